import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import SwitchboardCore

/// Campaign setup without a terminal: a new campaign, its settings and invite links, its senders, its contacts;
/// and, for admins, the organization's users.
extension Console {
    // MARK: New campaign and settings

    func newCampaignPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        try render("campaign-new", SettingsForm(title: "New campaign", user: UserView(session.user), csrf: session.csrfToken,
                                                 campaign: nil, name: "", settings: SelfAssignSettings()))
    }

    func createCampaign(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let form = context.form
        let name = (try form.value("name") ?? "").trimmingCharacters(in: .whitespaces)
        do {
            let settings = try Self.settings(form)
            guard !name.isEmpty else {
                throw SwitchboardError(.invalid, "invalid_name", "Give the campaign a name.")
            }
            let campaign = try await CampaignService(database).create(orgID: session.user.orgID, name: name, settings: settings)
            return redirect("/campaigns/\(campaign.id)/settings?saved=created")
        } catch let error as SwitchboardError where error.kind == .invalid {
            var page = SettingsForm(title: "New campaign", user: UserView(session.user), csrf: session.csrfToken,
                                    campaign: nil, name: name, settings: SelfAssignSettings())
            page.error = error.message
            page.kept(form)
            return try render("campaign-new", page, status: .unprocessableContent)
        }
    }

    /// The settings form's values, checked with the CLI's sentences.
    static func settings(_ form: FormBody) throws -> SelfAssignSettings {
        func number(_ field: String, _ label: String) throws -> Int? {
            guard let text = try form.value(field)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            guard let value = Int(text) else {
                throw SwitchboardError(.invalid, "invalid_\(field)", "\(label) '\(text)' is not a whole number.")
            }
            return value
        }
        let settings = SelfAssignSettings(
            selfAssign: form.flag("self_assign"),
            batchSize: try number("batch_size", "Batch size") ?? SelfAssignSettings.defaultBatchSize,
            maxOpen: try number("max_open", "Max open"), requireFinishedBatch: form.flag("require_finished_batch"))
        try settings.validate()
        return settings
    }

    func settingsPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        let saved = request.uri.queryParameters.get("saved")
        return try await renderSettings(campaign, session,
                                        notice: saved == "created" ? "Campaign created. Add senders and contacts next."
                                            : saved == nil ? nil : "Saved.")
    }

    func renderSettings(_ campaign: Campaign, _ session: ConsoleAuth.Session, notice: String? = nil,
                        newLink: String? = nil, error: String? = nil, kept: FormBody? = nil,
                        status: HTTPResponse.Status = .ok) async throws -> Response {
        var page = SettingsForm(title: "Settings", user: UserView(session.user), csrf: session.csrfToken,
                                campaign: CampaignView(campaign), name: campaign.name, settings: campaign.settings)
        page.notice = notice
        page.error = error
        if let kept { page.kept(kept) }
        page.newLink = newLink
        page.invites = try await InviteService(database).list(campaignID: campaign.id, orgID: session.user.orgID).map {
            SettingsForm.InviteRow(id: $0.id, created: "\(Words.time($0.createdAt)) by \($0.createdBy)",
                                   expires: Words.time($0.expiresAt), joined: $0.joined,
                                   state: $0.revokedAt != nil ? "Revoked" : $0.isLive ? "Live" : "Expired", live: $0.isLive)
        }
        page.tabs = Self.tabs(campaign.id, current: "settings")
        page.routing = RoutingForm(campaign.routing)
        page.teamsForm = TeamsForm(campaign, teams: try await TeamService(database).list(orgID: campaign.orgID).map(\.name))
        return try render("settings", page, status: status)
    }

    func saveRouting(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        let form = context.form
        do {
            let policy = try (try form.value("policy")).map { try RoutingPolicy(parsing: $0) }
            let fallback = try (try form.value("fallback")).map { try RoutingPolicy(parsing: $0) }
            let text = (try form.value("release_stale_after"))?.trimmingCharacters(in: .whitespaces) ?? ""
            var minutes: Int? = nil
            if !text.isEmpty {
                guard let value = Int(text) else {
                    throw SwitchboardError(.invalid, "invalid_release_stale_after", "Minutes '\(text)' is not a whole number.")
                }
                minutes = value
            }
            _ = try await CampaignService(database).updateRouting(id: campaign.id, policy: policy, fallback: fallback,
                                                                  releaseStaleAfter: minutes, clearReleaseStale: minutes == nil,
                                                                  orgID: session.user.orgID)
            return redirect("/campaigns/\(campaign.id)/settings?saved=routing")
        } catch let error as SwitchboardError where error.kind == .invalid {
            return try await renderSettings(campaign, session, error: error.message, status: .unprocessableContent)
        }
    }

    func saveSettings(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        do {
            let settings = try Self.settings(context.form)
            _ = try await CampaignService(database).update(
                id: campaign.id, selfAssign: settings.selfAssign, batchSize: settings.batchSize, maxOpen: settings.maxOpen,
                clearMaxOpen: settings.maxOpen == nil, requireFinishedBatch: settings.requireFinishedBatch)
            return redirect("/campaigns/\(campaign.id)/settings?saved=1")
        } catch let error as SwitchboardError where error.kind == .invalid {
            return try await renderSettings(campaign, session, error: error.message, kept: context.form,
                                            status: .unprocessableContent)
        }
    }

    func createInvite(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        do {
            let text = try context.form.value("days") ?? String(InviteService.defaultDays)
            guard let days = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw SwitchboardError(.invalid, "invalid_expiry", "Expiry '\(text)' is not a whole number of days.")
            }
            let (_, token) = try await InviteService(database).create(campaignID: campaign.id, orgID: session.user.orgID,
                                                                      days: days, actor: session.user.handle)
            return try await renderSettings(campaign, session,
                                            notice: "Invite link created. Copy it now: it is shown only once.",
                                            newLink: Self.siteURL(request, secure: secureCookies) + "/join/\(token)")
        } catch let error as SwitchboardError where error.kind == .invalid {
            return try await renderSettings(campaign, session, error: error.message, status: .unprocessableContent)
        }
    }

    func revokeInvite(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let id = try context.parameters.require("id", as: Int64.self)
        let invite = try await InviteService(database).revoke(id: id, orgID: session.user.orgID)
        return redirect("/campaigns/\(invite.campaignID)/settings?saved=revoked")
    }

    /// This site's address as the browser reached it, for links to hand out.
    static func siteURL(_ request: Request, secure: Bool) -> String {
        let host = request.head.authority ?? "localhost"
        return (secure ? "https://" : "http://") + host
    }

    static func tabs(_ campaignID: Int64, current: String) -> [Tab] {
        [("overview", "Conversations Overview", "/campaigns/\(campaignID)"),
         ("senders", "Senders", "/campaigns/\(campaignID)/senders"),
         ("contacts", "Contacts", "/campaigns/\(campaignID)/contacts"),
         ("settings", "Settings", "/campaigns/\(campaignID)/settings"),
         ("requests", "Requests", "/campaigns/\(campaignID)/requests"),
         ("report", "Report", "/campaigns/\(campaignID)/report"),
         ("history", "History", "/campaigns/\(campaignID)/history")].map {
            Tab(label: $0.1, link: $0.2, current: $0.0 == current)
        }
    }

    // MARK: Senders

    func sendersPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        return try await renderSenders(request, campaign, session, notice: request.uri.queryParameters.get("done"))
    }

    func renderSenders(_ request: Request, _ campaign: Campaign, _ session: ConsoleAuth.Session, notice: String? = nil,
                       error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let search = request.uri.queryParameters.get("q")
        let senders = SenderService(database)
        let list = try await senders.list(campaignID: campaign.id)
        let candidates = try await senders.candidates(campaignID: campaign.id, orgID: session.user.orgID, search: search)
        let page = SendersPage(
            user: UserView(session.user), csrf: session.csrfToken, campaign: CampaignView(campaign),
            tabs: Self.tabs(campaign.id, current: "senders"), notice: notice, error: error, search: search ?? "",
            senders: list.senders.map {
                SendersPage.Row(handle: $0.handle, name: $0.name, active: $0.active, available: $0.available,
                                skills: $0.skills.joined(separator: ", "), open: $0.counts.total
                                    - $0.counts[.closed] - $0.counts[.optedOut],
                                lastActive: $0.lastActiveAt.map(Words.time) ?? "Never",
                                viewAs: Self.queueURL(campaign.id, viewingAs: $0.handle))
            },
            candidates: candidates.map { SendersPage.Candidate(handle: $0.handle, name: $0.name, role: $0.role.rawValue) },
            hasCandidates: !candidates.isEmpty, hasSenders: !list.senders.isEmpty,
            policy: campaign.routing.policy == .manual ? "manual: back to Unassigned" : Words.policy(campaign.routing.policy),
            teams: try await TeamService(database).list(orgID: campaign.orgID).map {
                Option(value: $0.name, label: $0.name, selected: false)
            })
        return try render("senders", page, status: status)
    }

    func changeSenders(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        let form = context.form
        let senders = SenderService(database)
        do {
            let handles = try form.values("handle")
            guard !handles.isEmpty else {
                throw SwitchboardError(.invalid, "missing_handles", "Choose at least one user.")
            }
            let done: String
            switch try form.value("action") {
            case "deactivate":
                for handle in handles { try await senders.deactivate(campaignID: campaign.id, handle: handle) }
                done = "Deactivated \(handles.joined(separator: ", ")): they keep their conversations but receive no more."
            case "reactivate":
                try await senders.add(campaignID: campaign.id, handles: handles)
                done = "Reactivated \(handles.joined(separator: ", "))."
            case "away", "available":
                let available = try form.value("action") == "available"
                for handle in handles {
                    try await RoutingService(database).setAvailability(campaignID: campaign.id, handle: handle,
                                                                       available: available, orgID: session.user.orgID)
                }
                done = "\(handles.joined(separator: ", ")) \(handles.count == 1 ? "is" : "are") \(available ? "available" : "away"): routing \(available ? "gives them replies again" : "gives them nothing")."
            case "skills":
                let handle = handles[0]
                done = try await setSkills(campaign, handle: handle, text: try form.value("skills") ?? "", session)
            default:
                try await senders.add(campaignID: campaign.id, handles: handles)
                done = "Added \(handles.joined(separator: ", ")) as senders."
            }
            var components = URLComponents()
            components.path = "/campaigns/\(campaign.id)/senders"
            components.queryItems = [URLQueryItem(name: "done", value: done)]
            return redirect(components.string ?? components.path)
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .notFound {
            return try await renderSenders(request, campaign, session, error: error.message, status: .unprocessableContent)
        }
    }

    // MARK: Contacts

    /// Rows read so far by the uploads under way in this process, by upload key (the page polls it).
    static let uploads = NIOLockedValueBox<[String: Int]>([:])

    func contactsPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        return try await renderContacts(campaign, session)
    }

    func renderContacts(_ campaign: Campaign, _ session: ConsoleAuth.Session, notice: String? = nil, error: String? = nil,
                        status: HTTPResponse.Status = .ok) async throws -> Response {
        let list = try await SenderService(database).list(campaignID: campaign.id)
        return try render("contacts", ContactsPage(
            user: UserView(session.user), csrf: session.csrfToken, campaign: CampaignView(campaign),
            tabs: Self.tabs(campaign.id, current: "contacts"), notice: notice, error: error,
            total: Words.conversations(list.total), unassigned: list.unassigned.total,
            unassignedVerb: list.unassigned.total == 1 ? "is" : "are",
            uploadKey: ConsoleAuth.randomToken(bytes: 16)), status: status)
    }

    /// A CSV upload: a multipart form (no script) or the file as the body (the page's script, which shows
    /// progress). All or nothing, with `contacts import`'s rules and sentences.
    func uploadContacts(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        guard let upload = context.upload else {
            return try await renderContacts(campaign, session, error: "Choose a CSV file to upload.",
                                            status: .unprocessableContent)
        }
        let key = upload.key
        defer { if let key { _ = Self.uploads.withLockedValue { $0.removeValue(forKey: key) } } }
        do {
            let report = try await ContactImporter(database).importCSV(
                campaignID: campaign.id, data: upload.data, fileName: upload.fileName,
                progress: { rows in if let key { Self.uploads.withLockedValue { $0[key] = rows } } })
            return try await renderContacts(campaign, session,
                                            notice: "Imported \(Words.conversations(report.imported)) from \(upload.fileName).")
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .conflict {
            return try await renderContacts(campaign, session, error: error.message, status: .unprocessableContent)
        }
    }

    func uploadProgress(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        _ = try await campaign(context, session)
        let key = request.uri.queryParameters.get("key") ?? ""
        let rows = Self.uploads.withLockedValue { $0[key] }
        return try Encoded(["rows": rows ?? 0]).response
    }

    // MARK: Users (admins)

    func usersPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        try Self.requireAdmin(session)
        return try await renderUsers(session, notice: request.uri.queryParameters.get("done"))
    }

    static func requireAdmin(_ session: ConsoleAuth.Session) throws {
        guard session.user.role == .admin else {
            throw SwitchboardError(.forbidden, "admins_only", "Only admins manage the organization's users.")
        }
    }

    func renderUsers(_ session: ConsoleAuth.Session, notice: String? = nil, link: String? = nil,
                     error: String? = nil, kept: FormBody? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let members = try await Directory(database).members(orgID: session.user.orgID)
        return try render("users", UsersPage(
            user: UserView(session.user), csrf: session.csrfToken, notice: notice, link: link, error: error,
            handle: (try? kept?.value("handle")) ?? "", name: (try? kept?.value("name")) ?? "",
            roles: ["texter", "organizer", "admin"].map {
                Option(value: $0, label: $0.capitalized, selected: $0 == ((try? kept?.value("role")) ?? "texter"))
            },
            members: members.map {
                UsersPage.Row(handle: $0.user.handle, name: $0.user.name, role: $0.user.role.rawValue, active: $0.user.active,
                              canSignIn: $0.hasPassword, tokens: $0.liveTokens, autoApprove: $0.autoApprove)
            }), status: status)
    }

    func addUser(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        try Self.requireAdmin(session)
        let form = context.form
        do {
            let handle = try form.value("handle") ?? ""
            guard let role = Role(rawValue: try form.value("role") ?? "texter") else {
                throw SwitchboardError(.invalid, "invalid_role", "Role '\(try form.value("role") ?? "")' is not admin, organizer or texter.")
            }
            let user = try await Directory(database).addUser(orgID: session.user.orgID, handle: handle,
                                                             name: try form.value("name"), role: role)
            let token = try await ConsoleAuth(database).passwordLink(orgID: session.user.orgID, handle: user.handle,
                                                                      actor: session.user.handle)
            return try await renderUsers(session, notice: "Added \(user.handle). Send them this link to set a password (it works once, for 24 hours):",
                                         link: Self.siteURL(request, secure: secureCookies) + "/set-password/\(token)")
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .conflict {
            return try await renderUsers(session, error: error.message, kept: form, status: .unprocessableContent)
        }
    }

    func passwordLink(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        try Self.requireAdmin(session)
        let handle = try context.parameters.require("handle")
        try Directory.validate(handle: handle)
        let token = try await ConsoleAuth(database).passwordLink(orgID: session.user.orgID, handle: handle,
                                                                  actor: session.user.handle)
        return try await renderUsers(session,
                                     notice: "Send \(handle) this link to set a new password (it works once, for 24 hours):",
                                     link: Self.siteURL(request, secure: secureCookies) + "/set-password/\(token)")
    }

    /// Whether the user's requests for conversations are granted at once (`auto_approve=on`) or wait for approval.
    func setAutoApprove(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        try Self.requireAdmin(session)
        let handle = try context.parameters.require("handle")
        try Directory.validate(handle: handle)
        let on = context.form.flag("auto_approve")
        _ = try await Directory(database).update(orgID: session.user.orgID, handle: handle, autoApprove: on)
        return redirect(Self.withNotice("/users", on ? "\(handle)'s requests are now granted at once."
                                            : "\(handle)'s requests now wait for approval where a campaign asks for it."))
    }

    func revokeTokens(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        try Self.requireAdmin(session)
        let handle = try context.parameters.require("handle")
        try Directory.validate(handle: handle)
        let count = try await Directory(database).revokeTokens(orgID: session.user.orgID, handle: handle)
        var components = URLComponents()
        components.path = "/users"
        components.queryItems = [URLQueryItem(name: "done", value: "Revoked \(count == 1 ? "1 API token" : "\(count) API tokens") of \(handle).")]
        return redirect(components.string ?? "/users")
    }
}

/// A console tab of a campaign's pages.
struct Tab {
    let label: String
    let link: String
    let current: Bool
}
