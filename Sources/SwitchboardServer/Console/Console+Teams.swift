import Foundation
import Hummingbird
import SwitchboardCore

/// Teams (an admin's and organizer's page of the organization) and a campaign's Requests tab (wave 3).
extension Console {
    // MARK: Teams

    func teamsPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        try await renderTeams(session, notice: request.uri.queryParameters.get("done"))
    }

    func renderTeams(_ session: ConsoleAuth.Session, notice: String? = nil, error: String? = nil,
                     status: HTTPResponse.Status = .ok) async throws -> Response {
        let teams = try await TeamService(database).list(orgID: session.user.orgID)
        let users = try await Directory(database).members(orgID: session.user.orgID).filter(\.user.active)
        return try render("teams", TeamsPage(
            user: UserView(session.user), csrf: session.csrfToken, notice: notice, error: error,
            teams: teams.map { team in
                let candidates = users.map(\.user.handle).filter { !team.members.contains($0) }.map {
                    Option(value: $0, label: $0, selected: false)
                }
                return TeamsPage.Row(name: team.name,
                                     members: team.members.map { TeamsPage.Member(team: team.name, handle: $0) },
                                     candidates: candidates, hasCandidates: !candidates.isEmpty)
            }, hasTeams: !teams.isEmpty), status: status)
    }

    func createTeam(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let name = (try context.form.value("name") ?? "").trimmingCharacters(in: .whitespaces)
        do {
            _ = try await TeamService(database).create(orgID: session.user.orgID, name: name)
            return redirect(Self.withNotice("/teams", "Created team \(name)."))
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .conflict {
            return try await renderTeams(session, error: error.message, status: .unprocessableContent)
        }
    }

    /// `add=HANDLE` or `remove=HANDLE`.
    func changeTeam(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let name = try context.parameters.require("name")
        let teams = TeamService(database)
        do {
            if let handle = try context.form.value("add"), !handle.isEmpty {
                _ = try await teams.add(orgID: session.user.orgID, team: name, handles: [handle])
                return redirect(Self.withNotice("/teams", "Added \(handle) to \(name)."))
            }
            let handle = try context.form.value("remove") ?? ""
            _ = try await teams.remove(orgID: session.user.orgID, team: name, handles: [handle])
            return redirect(Self.withNotice("/teams", "Took \(handle) out of \(name)."))
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .notFound {
            return try await renderTeams(session, error: error.message, status: .unprocessableContent)
        }
    }

    static func withNotice(_ path: String, _ notice: String) -> String {
        var components = URLComponents()
        components.path = path
        components.queryItems = [URLQueryItem(name: "done", value: notice)]
        return components.string ?? path
    }

    // MARK: Requests

    func requestsPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        return try await renderRequests(campaign, session, notice: request.uri.queryParameters.get("done"))
    }

    func renderRequests(_ campaign: Campaign, _ session: ConsoleAuth.Session, notice: String? = nil,
                        error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let requests = try await RequestService(database).list(campaignID: campaign.id, orgID: session.user.orgID,
                                                               limit: 200)
        let row = { (request: RequestService.Request) in
            RequestsPage.Row(id: request.id, sender: request.sender, count: request.count,
                             at: Words.time(request.createdAt), status: Words.requestStatus(request.status),
                             decidedBy: request.decidedBy, granted: request.granted, note: request.note,
                             batch: request.batchID)
        }
        let pending = Array(requests.filter { $0.status == .pending }.reversed().map(row))
        let decided = requests.filter { $0.status != .pending }.prefix(50).map(row)
        return try render("requests", RequestsPage(
            user: UserView(session.user), csrf: session.csrfToken, campaign: CampaignView(campaign),
            tabs: Self.tabs(campaign.id, current: "requests"), notice: notice, error: error,
            approval: campaign.requestApproval, pending: pending, decided: decided, hasPending: !pending.isEmpty,
            hasDecided: !decided.isEmpty, manyPending: pending.count > 1), status: status)
    }

    /// `decision=approve|deny`, with `request_id` or `all=on`, and for a denial an optional `note`.
    func decideRequests(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        let form = context.form
        let service = RequestService(database)
        do {
            var ids: [Int64]
            if form.flag("all") {
                ids = try await service.pendingIDs(campaignID: campaign.id, orgID: session.user.orgID)
                guard !ids.isEmpty else {
                    throw SwitchboardError(.invalid, "missing_requests", "No request is waiting; nothing was changed.")
                }
            } else {
                let text = try form.value("request_id") ?? ""
                guard let id = Int64(text) else {
                    throw SwitchboardError(.invalid, "invalid_request", "Request '\(text)' is not a request id.")
                }
                ids = [id]
            }
            let notice: String
            if try form.value("decision") == "deny" {
                let denied = try await service.deny(ids, note: try form.value("note"), actor: session.user.handle,
                                                    orgID: session.user.orgID)
                notice = denied.count == 1 ? "Denied \(denied[0].sender)'s request." : "Denied \(denied.count) requests."
            } else {
                let decisions = try await service.approve(ids, actor: session.user.handle, orgID: session.user.orgID)
                notice = decisions.map { decision in
                    if let refusal = decision.refusal { return "\(decision.request.sender)'s request waits: \(refusal.message)" }
                    let granted = decision.request.granted ?? 0
                    return "\(decision.request.sender) received \(Words.conversations(granted))"
                        + (granted < decision.request.count ? " of \(decision.request.count) asked." : ".")
                }.joined(separator: " ")
            }
            return redirect(Self.withNotice("/campaigns/\(campaign.id)/requests", notice))
        } catch let error as SwitchboardError where error.kind != .unavailable && error.kind != .unauthorized {
            return try await renderRequests(campaign, session, error: error.message,
                                            status: error.kind == .forbidden ? .forbidden : .conflict)
        }
    }
}

struct TeamsPage {
    let title = "Teams"
    let user: UserView
    let csrf: String
    let notice: String?
    let error: String?
    let teams: [Row]
    let hasTeams: Bool

    struct Row {
        let name: String
        let members: [Member]
        let candidates: [Option]
        let hasCandidates: Bool
    }

    struct Member {
        let team: String
        let handle: String
    }
}

struct RequestsPage {
    let title = "Requests"
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let tabs: [Tab]
    let notice: String?
    let error: String?
    /// Whether the campaign holds requests for approval now.
    let approval: Bool
    let pending: [Row]
    let decided: [Row]
    // Mustache reads stored properties only.
    let hasPending: Bool
    let hasDecided: Bool
    let manyPending: Bool

    struct Row {
        let id: Int64
        let sender: String
        let count: Int
        let at: String
        let status: String
        let decidedBy: String?
        let granted: Int?
        let note: String?
        let batch: Int64?
    }
}

/// The settings page's "Teams and approval" form.
struct TeamsForm {
    let requestApproval: Bool
    let teams: [Option]
    let routingTeams: [Option]
    let hasTeams: Bool

    init(_ campaign: Campaign, teams: [String]) {
        hasTeams = !teams.isEmpty
        requestApproval = campaign.requestApproval
        self.teams = teams.map { Option(value: $0, label: $0, selected: campaign.teams.contains($0)) }
        routingTeams = teams.map { Option(value: $0, label: $0, selected: campaign.routingTeam == $0) }
    }
}

extension Console {
    /// `request_approval=on`, `teams` (repeated; none lifts the limit), `routing_team` (empty: every sender).
    func saveTeams(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let form = context.form
        do {
            let routingTeam = (try form.value("routing_team") ?? "").trimmingCharacters(in: .whitespaces)
            // A form without the team fields (the organization has none) leaves the teams alone.
            let hasTeams = try await !TeamService(database).list(orgID: campaign.orgID).isEmpty
            if hasTeams {
                _ = try await TeamService(database).configure(
                    campaignID: campaign.id, teams: try form.values("teams"),
                    routingTeam: routingTeam.isEmpty ? nil : routingTeam, clearRoutingTeam: routingTeam.isEmpty,
                    orgID: session.user.orgID)
            }
            _ = try await CampaignService(database).update(id: campaign.id, requestApproval: form.flag("request_approval"))
            return redirect("/campaigns/\(campaign.id)/settings?saved=teams")
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .notFound {
            return try await renderSettings(campaign, session, error: error.message, status: .unprocessableContent)
        }
    }
}

// MARK: Reports

extension Console {
    /// The campaign's report: a chart of what each sender sent and answered, with their oldest Needs Reply beside
    /// it, and the table of every figure.
    func reportPage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let report = try await ReportService(database).report(campaignID: campaign.id, orgID: session.user.orgID)
        let names = Dictionary(uniqueKeysWithValues: try await SenderService(database).list(campaignID: campaign.id)
            .senders.map { ($0.handle, $0.name) })
        let rows = report.senders.map { sender in
            ReportPage.Row(handle: sender.handle, name: names[sender.handle] ?? sender.handle, held: sender.held,
                           sent: sender.sent, handled: sender.repliesHandled,
                           median: sender.medianFirstResponseSeconds.map(ReplyTimers.words) ?? "–",
                           oldest: sender.oldestNeedsReplySeconds.map(ReplyTimers.words) ?? "–")
        }
        let chart = BarChart.svg(report.senders.map { sender in
            BarChart.Row(label: sender.handle, spoken: "\(names[sender.handle] ?? sender.handle) (\(sender.handle))",
                         before: sender.sent, after: sender.repliesHandled,
                         side: "waits " + (sender.oldestNeedsReplySeconds.map(ReplyTimers.words) ?? "–"))
        }, words: ("sent", "answered"))
        return try render("report", ReportPage(
            user: UserView(session.user), csrf: session.csrfToken, campaign: CampaignView(campaign),
            tabs: Self.tabs(campaign.id, current: "report"), rows: rows, hasRows: !rows.isEmpty, chart: chart,
            ages: report.needsReplyAge.map { ReportPage.Age(bucket: $0.bucket, count: $0.count) }))
    }
}

struct ReportPage {
    let title = "Report"
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let tabs: [Tab]
    let rows: [Row]
    let hasRows: Bool
    let chart: String
    let ages: [Age]

    struct Row {
        let handle: String
        let name: String
        let held: Int
        let sent: Int
        let handled: Int
        let median: String
        let oldest: String
    }

    struct Age {
        let bucket: String
        let count: Int
    }
}
