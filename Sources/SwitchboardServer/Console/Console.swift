import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import SwitchboardCore

/// The organizer's web console: server-rendered pages over the same Core calls as the API and the CLI. Every
/// action is a plain form that posts and redirects; `app.js` only adds live counts.
struct Console: Sendable {
    let database: Database
    let templates: MustacheLibrary
    let hub: EventHub
    /// Cookies carry `Secure` unless the server was told it serves plain HTTP on loopback.
    let secureCookies: Bool
    /// Heartbeat, per-user limit and idle end of the live pages' event streams.
    let streams: StreamLimits
    /// bcrypt's cost for passwords set here (sign-up by invite, set-password links).
    let bcryptCost: UInt8
    /// Tries per client address of the forms that hash a password.
    let tries: AddressThrottle

    /// The templates, loaded once from the target's resources (`top` and `bottom` are partials).
    static let templates: MustacheLibrary = {
        var library = MustacheLibrary()
        guard let folder = Bundle.module.url(forResource: "Templates", withExtension: nil),
              let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path)
        else { preconditionFailure("The console's templates are not in the build.") }
        for file in files where file.hasSuffix(".mustache") {
            let url = folder.appendingPathComponent(file)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            do {
                try library.register(text, named: String(file.dropLast(".mustache".count)))
            } catch {
                preconditionFailure("Template \(file) does not parse: \(error)")
            }
        }
        return library
    }()

    func add(to router: Router<AppRequestContext>) {
        router.get("static/:file", use: asset)
        router.get("sign-in", use: signInPage)
        router.post("sign-in", use: signIn)
        // Pages for anyone signed in, texters included; pages for admins and organizers; the one upload. Who may
        // enter is checked by the group's middleware before any handler runs or any body is read.
        let signedIn = router.group().add(middleware: ConsoleGate(console: self, managers: false))
        let managers = router.group().add(middleware: ConsoleGate(console: self, managers: true))
        let uploads = router.group().add(middleware: ConsoleGate(console: self, managers: true, upload: true))
        signedIn.post("sign-out", use: page(signOut))
        signedIn.get("/", use: page(campaigns))
        signedIn.get("campaigns/:id", use: page(overview))
        managers.post("campaigns/:id/preview", use: page(preview))
        managers.post("campaigns/:id/apply", use: page(apply))
        managers.post("campaigns/:id/tag-selected", use: page(tagSelected))
        managers.get("campaigns/:id/history", use: page(history))
        managers.get("campaigns/:id/live", use: page(live))
        managers.post("batches/:id/undo", use: page(undo))
        managers.get("batches/:id", use: page(batch))
        signedIn.get("conversations/:id", use: page(conversation))
        managers.post("conversations/:id/assignee", use: page(reassign))
        // The texter's messenger (organizers open it with `as=HANDLE`).
        signedIn.get("campaigns/:id/queue", use: page(queue))
        signedIn.get("campaigns/:id/queue/live", use: page(queueLive))
        signedIn.post("campaigns/:id/request", use: page(requestConversations))
        signedIn.get("campaigns/:id/release", use: page(releasePage))
        signedIn.post("campaigns/:id/release", use: page(release))
        signedIn.post("conversations/:id/reply", use: page(reply))
        signedIn.post("conversations/:id/close", use: page(close))
        signedIn.post("campaigns/:id/availability", use: page(availability))
        // Campaign setup.
        managers.get("campaigns/new", use: page(newCampaignPage))
        managers.post("campaigns/new", use: page(createCampaign))
        managers.get("campaigns/:id/settings", use: page(settingsPage))
        managers.post("campaigns/:id/settings", use: page(saveSettings))
        managers.post("campaigns/:id/invites", use: page(createInvite))
        managers.post("invites/:id/revoke", use: page(revokeInvite))
        managers.get("campaigns/:id/senders", use: page(sendersPage))
        managers.post("campaigns/:id/routing", use: page(saveRouting))
        managers.post("campaigns/:id/handoff", use: page(handoff))
        managers.post("campaigns/:id/senders", use: page(changeSenders))
        managers.get("campaigns/:id/contacts", use: page(contactsPage))
        uploads.post("campaigns/:id/contacts", use: page(uploadContacts))
        managers.get("campaigns/:id/contacts/progress", use: page(uploadProgress))
        managers.get("teams", use: page(teamsPage))
        managers.post("teams", use: page(createTeam))
        managers.post("teams/:name/members", use: page(changeTeam))
        managers.get("campaigns/:id/requests", use: page(requestsPage))
        managers.post("campaigns/:id/teams", use: page(saveTeams))
        managers.get("campaigns/:id/report", use: page(reportPage))
        managers.post("campaigns/:id/requests", use: page(decideRequests))
        managers.get("users", use: page(usersPage))
        managers.post("users", use: page(addUser))
        managers.post("users/:handle/password-link", use: page(passwordLink))
        managers.post("users/:handle/revoke-tokens", use: page(revokeTokens))
        managers.post("users/:handle/auto-approve", use: page(setAutoApprove))
        // Reached by a link, signed in or not.
        router.get("join/:token", use: joinPage)
        router.post("join/:token", use: join)
        router.get("set-password/:token", use: setPasswordPage)
        router.post("set-password/:token", use: setPassword)
    }

    // MARK: Sessions

    /// A page's handler, given the session its group's `ConsoleGate` admitted. Core's refusals become an error page
    /// with their sentence and status.
    func page(_ handler: @escaping @Sendable (Request, AppRequestContext, ConsoleAuth.Session) async throws -> Response)
        -> @Sendable (Request, AppRequestContext) async throws -> Response
    {
        { request, context in
            guard let session = context.console else {
                throw SwitchboardError(.unauthorized, "signed_out", "Your session has ended; sign in again.")
            }
            do {
                return try await handler(request, context, session)
            } catch let error as SwitchboardError {
                return try errorPage(error, session: session)
            }
        }
    }

    /// What `ConsoleGate` checks, before any of the body is read: no session sends a GET to the sign-in page and
    /// refuses anything else; a texter on an organizer's page is refused; a POST must come from this site
    /// (`Origin`) and carry the session's CSRF token, or it is refused (403) and changes nothing. An upload's token
    /// comes in a header or the query, so its body is read only once the token matched; a form's token is in its
    /// body, which is read up to the form limit. On success, `next` runs with the session (and the form or the
    /// upload) in the context.
    func admit(_ request: Request, _ context: AppRequestContext, managers: Bool, upload: Bool,
               next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        do {
            guard let token = SessionCookie.token(in: request),
                  let session = try await ConsoleAuth(database).session(token: token)
            else {
                if request.method == .get {
                    let next = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
                    return redirect("/sign-in?next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/")")
                }
                return try render("error", ErrorPage(heading: "Signed out", message: "Your session has ended; sign in again.",
                                                     session: nil), status: .unauthorized)
            }
            context.console = session
            context.sessionToken = token
            if managers && !session.user.role.canManage {
                return try render("error", ErrorPage(
                    heading: "Organizers only",
                    message: "The organizer console is for admins and organizers; you are signed in as a texter.",
                    session: session), status: .forbidden)
            }
            if request.method == .post {
                guard Self.fromThisSite(request) else { return try refusedForm(session) }
                if upload {
                    guard ConsoleAuth.sameSecret(Upload.csrfToken(of: request), session.csrfToken) else {
                        return try refusedForm(session)
                    }
                    context.upload = try await Upload.read(request)
                } else {
                    let form = try await FormBody.read(request, context: context)
                    guard ConsoleAuth.sameSecret(try? form.value("csrf"), session.csrfToken) else {
                        return try refusedForm(session)
                    }
                    context.form = form
                }
            }
        } catch let error as SwitchboardError {
            return try errorPage(error, session: context.console)
        }
        return try await next(request, context)
    }

    /// Core's refusal as a page: its sentence, its status, and `Retry-After` when it says to wait.
    func errorPage(_ error: SwitchboardError, session: ConsoleAuth.Session?) throws -> Response {
        try render("error", ErrorPage(heading: Self.heading(error), message: error.message, session: session),
                   status: ErrorMiddleware.status(for: error.kind), retryAfter: error.retryAfter)
    }

    /// 403 for a form without this session's token or from another site; nothing was changed.
    func refusedForm(_ session: ConsoleAuth.Session?) throws -> Response {
        try render("error", ErrorPage(
            heading: "Refused",
            message: "This form is out of date or did not come from this site; nothing was changed. Reload the page and try again.",
            session: session), status: .forbidden)
    }

    /// Whether a POST comes from a page of this site, as far as the browser says: a `Sec-Fetch-Site` other than
    /// same-origin or none, or an `Origin` whose host is not the request's, is another site's (a login CSRF on the
    /// sign-in form, say). A request with neither header (curl, an old browser) passes; CSRF tokens still guard it.
    static func fromThisSite(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!]?.lowercased(),
           !["same-origin", "none"].contains(site) {
            return false
        }
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return true }
        guard let components = URLComponents(string: origin), let host = components.host else { return false }
        let authority = host + (components.port.map { ":\($0)" } ?? "")
        let served = [request.headers[HTTPField.Name("X-Forwarded-Host")!], request.head.authority]
            .compactMap { $0?.lowercased() }
        return served.contains(authority.lowercased())
    }

    static func heading(_ error: SwitchboardError) -> String {
        switch error.kind {
        case .notFound: "Not found"
        case .forbidden: "Not allowed"
        case .unavailable, .throttled: "Try again shortly"
        default: "Something is not right"
        }
    }

    @Sendable func signInPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        try render("sign-in", SignInPage(next: Self.safeNext(request.uri.queryParameters.get("next"))))
    }

    /// Signs in: refused (403) from another site's page, throttled (429) per client address and per handle.
    @Sendable func signIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard Self.fromThisSite(request) else { return try refusedForm(nil) }
        let form = try await FormBody.read(request, context: context)
        let handle = (try? form.value("handle")) ?? ""
        let organization = try? form.value("organization")
        let next = Self.safeNext(try? form.value("next"))
        do {
            try tries.take(request, context)
            let (token, _) = try await ConsoleAuth(database).signIn(
                organization: organization, handle: handle, password: (try form.value("password")) ?? "")
            var response = redirect(next)
            response.setCookie(SessionCookie.set(token, secure: secureCookies))
            return response
        } catch let error as SwitchboardError {
            let status: HTTPResponse.Status = switch error.kind {
            case .unavailable: .serviceUnavailable
            case .throttled: .tooManyRequests
            default: .unauthorized
            }
            return try render("sign-in", SignInPage(next: next, handle: handle, organization: organization ?? "",
                                                    error: error.message),
                              status: status, retryAfter: error.retryAfter)
        }
    }

    func signOut(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        if let token = context.sessionToken { try await ConsoleAuth(database).signOut(token: token) }
        var response = redirect("/sign-in")
        response.setCookie(SessionCookie.clear(secure: secureCookies))
        return response
    }

    /// Only a path of this site, never a redirect elsewhere: a single leading `/`, no backslash and no control
    /// character, before or after percent-decoding (browsers drop a tab or a newline and read a backslash as `/`,
    /// so `/<tab>/evil.example` would leave the site); anything else is `/`.
    static func safeNext(_ next: String?) -> String {
        guard let next, isLocalPath(next), let decoded = next.removingPercentEncoding, isLocalPath(decoded) else {
            return "/"
        }
        return next
    }

    private static func isLocalPath(_ path: String) -> Bool {
        let scalars = Array(path.unicodeScalars)
        guard scalars.first == "/", scalars.count == 1 || scalars[1] != "/" else { return false }
        return !scalars.contains { $0 == "\\" || $0.properties.generalCategory == .control || $0.value == 0x7F }
    }

    // MARK: Rendering

    func render(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok, retryAfter: Int? = nil) throws
        -> Response
    {
        guard let html = templates.render(model, withTemplate: template) else {
            throw SwitchboardError(.unavailable, "template_missing", "The console page '\(template)' is missing.")
        }
        var response = Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                                body: .init(byteBuffer: ByteBuffer(string: html)))
        if let retryAfter { response.headers[.retryAfter] = String(max(1, retryAfter)) }
        return response
    }

    func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    @Sendable func asset(_ request: Request, context: AppRequestContext) async throws -> Response {
        let file = try context.parameters.require("file")
        let types = ["app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"]
        guard let type = types[file], let url = Bundle.module.url(forResource: "Static/\(file)", withExtension: nil),
              let data = try? Data(contentsOf: url)
        else { throw HTTPError(.notFound) }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The campaign named by the route, if the session's organization owns it (404 otherwise).
    func campaign(_ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Campaign {
        let id = try context.parameters.require("id", as: Int64.self)
        return try await CampaignService(database).campaign(id: id, orgID: session.user.orgID)
    }
}

/// The door to a group of console pages: a signed-in session (for `managers`, an admin's or organizer's), and for
/// a POST a form from this site with the session's CSRF token, all checked before any of the body is read
/// (`Console.admit`).
struct ConsoleGate: RouterMiddleware {
    typealias Context = AppRequestContext
    let console: Console
    let managers: Bool
    var upload = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        try await console.admit(request, context, managers: managers, upload: upload, next: next)
    }
}
