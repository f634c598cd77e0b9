import Foundation
import Hummingbird
import SwitchboardCore

/// The pages a person reaches by a link, before or without signing in: a campaign's invite, and a set-password
/// link from an admin.
extension Console {
    func joinPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try context.parameters.require("token")
        let session = try await currentSession(request)
        do {
            let campaign = try await InviteService(database).campaign(token: token)
            return try render("join", JoinPage(campaign: campaign.name, token: token, session: session))
        } catch let error as SwitchboardError where error.code == "invite_invalid" {
            return try render("error", ErrorPage(heading: "Invite link not valid", message: error.message, session: session),
                              status: .notFound)
        }
    }

    /// Joins the campaign (signed in) or signs up and joins (a new person), then lands in Assigned to Me with
    /// the first batch when self-assign is on.
    func join(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try context.parameters.require("token")
        let session = try await currentSession(request)
        guard Self.fromThisSite(request) else { return try refusedForm(session) }
        let form = try await FormBody.read(request, context: context)
        let invites = InviteService(database, cost: bcryptCost)
        do {
            let joined: InviteService.Joined
            var cookie: Cookie?
            if let session {
                guard ConsoleAuth.sameSecret(try? form.value("csrf"), session.csrfToken) else {
                    return try refusedForm(session)
                }
                joined = try await invites.join(token: token, user: session.user)
            } else {
                try tries.take(request, context)
                joined = try await invites.signUp(token: token, handle: try form.value("handle") ?? "",
                                                  name: try form.value("name") ?? "", password: try form.value("password") ?? "")
                let (sessionToken, _) = try await ConsoleAuth(database).openSession(for: joined.user)
                cookie = SessionCookie.set(sessionToken, secure: secureCookies)
            }
            var extra: [URLQueryItem] = []
            if let grant = joined.grant {
                extra.append(grant.pendingRequest == nil ? URLQueryItem(name: "granted", value: String(grant.result.moved))
                                 : URLQueryItem(name: "pending", value: "1"))
            }
            if let refusal = joined.refusal { extra.append(URLQueryItem(name: "refused", value: refusal.code)) }
            var response = redirect(Self.queueURL(joined.campaign.id, filter: joined.grant == nil ? nil : "not-started",
                                                  extra: extra))
            if let cookie { response.setCookie(cookie) }
            return response
        } catch let error as SwitchboardError where error.code == "invite_invalid" {
            return try render("error", ErrorPage(heading: "Invite link not valid", message: error.message, session: session),
                              status: .notFound)
        } catch let error as SwitchboardError where error.kind == .throttled {
            return try errorPage(error, session: session)
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .conflict
            || error.kind == .forbidden
        {
            let campaign = try? await InviteService(database).campaign(token: token)
            var page = JoinPage(campaign: campaign?.name ?? "", token: token, session: session)
            page.error = error.message
            page.handle = (try? form.value("handle")) ?? ""
            page.name = (try? form.value("name")) ?? ""
            return try render("join", page, status: error.kind == .forbidden ? .forbidden : .unprocessableContent)
        }
    }

    func setPasswordPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try context.parameters.require("token")
        guard let user = try await ConsoleAuth(database).passwordLinkUser(token: token) else {
            return try render("error", ErrorPage(
                heading: "Link not valid",
                message: "This set-password link is not valid: it may have been used or have expired. Ask an admin for a new one.",
                session: nil), status: .notFound)
        }
        return try render("set-password", SetPasswordPage(handle: user.handle, token: token))
    }

    func setPassword(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try context.parameters.require("token")
        guard Self.fromThisSite(request) else { return try refusedForm(nil) }
        let form = try await FormBody.read(request, context: context)
        do {
            try tries.take(request, context)
            let password = try form.value("password") ?? ""
            guard password == (try form.value("repeat") ?? "") else {
                throw SwitchboardError(.invalid, "password_mismatch", "The two passwords differ; type the same one twice.")
            }
            let (sessionToken, _) = try await ConsoleAuth(database, cost: bcryptCost).usePasswordLink(token: token,
                                                                                                 password: password)
            var response = redirect("/")
            response.setCookie(SessionCookie.set(sessionToken, secure: secureCookies))
            return response
        } catch let error as SwitchboardError where error.kind == .invalid {
            let user = try await ConsoleAuth(database).passwordLinkUser(token: token)
            var page = SetPasswordPage(handle: user?.handle ?? "", token: token)
            page.error = error.message
            return try render("set-password", page, status: .unprocessableContent)
        } catch let error as SwitchboardError where error.code == "link_invalid" {
            return try render("error", ErrorPage(heading: "Link not valid", message: error.message, session: nil),
                              status: .notFound)
        } catch let error as SwitchboardError where error.kind == .throttled {
            return try errorPage(error, session: nil)
        }
    }

    /// The signed-in session, if the request has one (pages open to everyone).
    func currentSession(_ request: Request) async throws -> ConsoleAuth.Session? {
        guard let token = SessionCookie.token(in: request) else { return nil }
        return try await ConsoleAuth(database).session(token: token)
    }
}
