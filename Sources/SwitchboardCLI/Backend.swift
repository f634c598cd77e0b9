import Foundation
import SwitchboardCore

/// What the commands ask of Switchboard, written once: `DirectBackend` answers from Core over the database,
/// `RemoteBackend` through the HTTP API with a token (issue 22). Both return Core's values, so a command prints the
/// same thing, human or `--json`, and fails with the same `SwitchboardError` (hence the same exit code) either way.
protocol Backend: Sendable {
    /// Remote mode: history records the token's user and `--actor` is refused.
    var isRemote: Bool { get }
    /// Over the API one acts as the token's user: refuses a `--sender` naming anyone else. Directly: nothing.
    func requireSelf(_ sender: String?) async throws
    /// The backend for step N of a plan (over the API: its own Idempotency-Key).
    func forStep(_ number: Int) -> any Backend

    func bulk(_ request: AssignmentService.BulkRequest, onStart: (@Sendable (Int) -> Void)?) async throws -> BatchResult
    func previewUnassignAll(campaignID: Int64, from: String?, status: StatusFilter, actor: String,
                            filter: ConversationFilter) async throws -> (count: Int, token: String)
    func unassignAll(campaignID: Int64, from: String?, status: StatusFilter, actor: String, token: String?,
                     dryRun: Bool, note: String?, filter: ConversationFilter, previewToken: String?) async throws
        -> BatchResult
    func reassign(conversationID: Int64, to: String?, actor: String, dryRun: Bool, note: String?, campaignID: Int64?)
        async throws -> BatchResult
    func escalate(conversationID: Int64, skill: String, actor: String, dryRun: Bool, note: String?) async throws
        -> BatchResult
    func escalate(conversationID: Int64, toTeam team: String, actor: String, dryRun: Bool, note: String?) async throws
        -> BatchResult
    func undo(batchID: Int64, actor: String, dryRun: Bool, note: String?) async throws -> BatchResult
    func handoff(_ request: RoutingService.HandoffRequest) async throws -> BatchResult
    /// Rehearses a plan: every step for real in one transaction that is rolled back.
    func preview(_ plan: Plan, actor: String) async throws -> PlanPreview
    func releaseStale(campaignID: Int64?, actor: String, dryRun: Bool) async throws -> [BatchResult]
    func skills(campaignID: Int64) async throws -> [String: [String]]
    /// Adds (`add`) or removes skills; returns the sender's skills after.
    func changeSkills(campaignID: Int64, handle: String, skills: [String], add: Bool) async throws -> [String]
    func tags(conversationID: Int64) async throws -> [String]
    /// Adds (`add`) or removes tags; returns the conversation's tags after.
    func changeTags(conversationID: Int64, tags: [String], add: Bool) async throws -> [String]
    /// Tags or untags every conversation of a campaign the status and filter select; returns how many changed.
    func changeTags(campaignID: Int64, tags: [String], add: Bool, status: ConversationStatus?,
                    filter: ConversationFilter) async throws -> Int

    func batch(id: Int64) async throws -> HistoryService.Batch
    func batchChanges(id: Int64, limit: Int) async throws -> HistoryService.BatchChanges
    func conversationHistory(id: Int64) async throws -> HistoryService.ConversationHistory
    func campaignHistory(id: Int64, limit: Int) async throws -> HistoryService.CampaignHistory

    func campaign(id: Int64) async throws -> Campaign
    /// `org` is an id or a name; over the API it must be the token's organization.
    func createCampaign(org: String, name: String, settings: SelfAssignSettings) async throws -> Campaign
    func updateCampaign(id: Int64, _ change: CampaignChange) async throws -> Campaign
    func addSenders(campaignID: Int64, handles: [String]) async throws
    func deactivateSender(campaignID: Int64, handle: String) async throws
    /// Imports a CSV, all rows or none; returns how many.
    func importContacts(campaignID: Int64, data: Data, fileName: String, progress: @escaping @Sendable (Int) -> Void)
        async throws -> Int
    func senders(campaignID: Int64) async throws -> SenderList
    func conversations(campaignID: Int64, assignee: ConversationService.AssigneeFilter, status: ConversationStatus?,
                       filter: ConversationFilter, limit: Int, cursor: String?) async throws -> ConversationService.Page
    func backlog(campaignID: Int64, limit: Int) async throws -> RoutingService.Backlog
    func setAvailability(campaignID: Int64, handle: String, available: Bool) async throws
    func export(campaignID: Int64, status: ConversationStatus?, filter: ConversationFilter,
                line: (String) async throws -> Void) async throws

    /// The grant, or, with request approval on, the id of the request now waiting.
    func requestMore(campaignID: Int64, sender: String, count: Int?, actor: String?) async throws
        -> (result: BatchResult, pending: Int64?)
    func release(campaignID: Int64, sender: String, actor: String?) async throws -> BatchResult
    func message(_ address: MessageService.Address, direction: MessageService.Direction, body: String, sender: String?,
                 leaveUnassigned: Bool) async throws -> MessageService.Recorded
    func close(conversationID: Int64, sender: String?) async throws -> Conversation
    /// The sender opened the conversation (clears `unread` if they are its assignee).
    func markRead(conversationID: Int64, sender: String) async throws -> Conversation
    /// A sender's "Assigned to Me" queue (`org` or `campaign` names their organization), or a campaign's
    /// unassigned view (`sender` nil), newest activity first; `status` as `QueueFilter` reads it.
    func queue(sender: String?, org: String?, campaignID: Int64?, status: String?, limit: Int, cursor: String?)
        async throws -> ConversationService.Page
    /// Assignment notifications as they arrive, until cancelled: every one of the
    /// database's in direct mode, the token's user's over the API.
    func watch(_ event: (Notifications.Event) async throws -> Void) async throws

    // Lists (issue 34). `org` is an id or a name; over the API it must be the token's organization.
    /// Every organization (direct), or the token's (over the API).
    func organizations() async throws -> [Organization]
    func users(org: String) async throws -> [Directory.Member]
    func campaigns(org: String) async throws -> [Campaign]
    /// Never a token's secret; `user` narrows to one user's.
    func tokens(org: String, user: String?) async throws -> [Directory.TokenInfo]
    func invites(campaignID: Int64) async throws -> [InviteService.Invite]

    // Teams and request approval (wave 3).
    func teams(org: String) async throws -> [TeamService.Team]
    func createTeam(org: String, name: String) async throws -> TeamService.Team
    /// Adds (`add`) or removes members, all or none; returns the team after.
    func changeTeam(org: String, team: String, handles: [String], add: Bool) async throws -> TeamService.Team
    func requests(campaignID: Int64, status: RequestService.Status?) async throws -> [RequestService.Request]
    /// `ids`, or with `allOf`, every pending request of that campaign.
    func approve(ids: [Int64], allOf campaignID: Int64?, count: Int?, actor: String) async throws
        -> [RequestService.Decision]
    func deny(ids: [Int64], allOf campaignID: Int64?, note: String?, actor: String) async throws -> [RequestService.Request]
    func report(campaignID: Int64) async throws -> ReportService.Report
}

/// What `campaign set` changes; nil leaves a setting as it is.
struct CampaignChange: Sendable {
    var selfAssign: Bool?
    var batchSize: Int?
    var maxOpen: Int?
    var clearMaxOpen = false
    var requireFinishedBatch: Bool?
    var policy: RoutingPolicy?
    var fallback: RoutingPolicy?
    var releaseStaleAfter: Int?
    var clearReleaseStale = false
    var requestApproval: Bool?
    /// Empty lifts the limit.
    var teams: [String]?
    var routingTeam: String?
    var clearRoutingTeam = false

    var touchesTeams: Bool { teams != nil || routingTeam != nil || clearRoutingTeam }
    var touchesRouting: Bool { policy != nil || fallback != nil || releaseStaleAfter != nil || clearReleaseStale }
    var touchesSelfAssign: Bool {
        selfAssign != nil || batchSize != nil || maxOpen != nil || clearMaxOpen || requireFinishedBatch != nil
            || requestApproval != nil
    }
}

/// Core, over a connected database: the CLI's direct mode, as before issue 22.
struct DirectBackend: Backend {
    let database: Database
    var isRemote: Bool { false }
    func requireSelf(_ sender: String?) async throws {}
    func forStep(_ number: Int) -> any Backend { self }

    func organizations() async throws -> [Organization] { try await Directory(database).organizations() }

    func users(org: String) async throws -> [Directory.Member] {
        let directory = Directory(database)
        return try await directory.members(orgID: try await directory.organization(org).id)
    }

    func campaigns(org: String) async throws -> [Campaign] {
        try await CampaignService(database).list(orgID: try await Directory(database).organization(org).id)
    }

    func tokens(org: String, user: String?) async throws -> [Directory.TokenInfo] {
        let directory = Directory(database)
        return try await directory.tokens(orgID: try await directory.organization(org).id, handle: user)
    }

    func invites(campaignID: Int64) async throws -> [InviteService.Invite] {
        try await InviteService(database).list(campaignID: campaignID)
    }

    func bulk(_ request: AssignmentService.BulkRequest, onStart: (@Sendable (Int) -> Void)?) async throws -> BatchResult {
        let service = AssignmentService(database)
        return request.count == nil ? try await service.reassignAll(request, onStart: onStart)
            : try await service.reassignSome(request, onStart: onStart)
    }

    func previewUnassignAll(campaignID: Int64, from: String?, status: StatusFilter, actor: String,
                            filter: ConversationFilter) async throws -> (count: Int, token: String) {
        let preview = try await AssignmentService(database).previewUnassignAll(campaignID: campaignID, from: from,
                                                                               status: status, actor: actor, filter: filter)
        return (preview.count, preview.confirmationToken)
    }

    func unassignAll(campaignID: Int64, from: String?, status: StatusFilter, actor: String, token: String?,
                     dryRun: Bool, note: String?, filter: ConversationFilter, previewToken: String?) async throws
        -> BatchResult {
        try await AssignmentService(database).unassignAll(campaignID: campaignID, from: from, status: status, actor: actor,
                                                          confirmationToken: token, dryRun: dryRun, note: note,
                                                          filter: filter, previewToken: previewToken)
    }

    func reassign(conversationID: Int64, to: String?, actor: String, dryRun: Bool, note: String?, campaignID: Int64?)
        async throws -> BatchResult {
        try await AssignmentService(database).reassign(conversationID: conversationID, to: to, actor: actor,
                                                       dryRun: dryRun, note: note, campaignID: campaignID)
    }

    func escalate(conversationID: Int64, skill: String, actor: String, dryRun: Bool, note: String?) async throws
        -> BatchResult {
        try await RoutingService(database).escalate(conversationID: conversationID, skill: skill, actor: actor,
                                                    note: note, dryRun: dryRun)
    }

    func escalate(conversationID: Int64, toTeam team: String, actor: String, dryRun: Bool, note: String?) async throws
        -> BatchResult {
        try await RoutingService(database).escalate(conversationID: conversationID, toTeam: team, actor: actor,
                                                    note: note, dryRun: dryRun)
    }

    func undo(batchID: Int64, actor: String, dryRun: Bool, note: String?) async throws -> BatchResult {
        try await AssignmentService(database).undo(batchID: batchID, actor: actor, dryRun: dryRun, note: note)
    }

    func handoff(_ request: RoutingService.HandoffRequest) async throws -> BatchResult {
        try await RoutingService(database).handoff(request)
    }

    func preview(_ plan: Plan, actor: String) async throws -> PlanPreview {
        try await PlanService(database).preview(plan, actor: actor)
    }

    func releaseStale(campaignID: Int64?, actor: String, dryRun: Bool) async throws -> [BatchResult] {
        try await RoutingService(database).releaseStale(campaignID: campaignID, actor: actor, dryRun: dryRun)
    }

    func skills(campaignID: Int64) async throws -> [String: [String]] {
        try await RoutingService(database).skills(campaignID: campaignID)
    }

    func changeSkills(campaignID: Int64, handle: String, skills: [String], add: Bool) async throws -> [String] {
        let routing = RoutingService(database)
        return add ? try await routing.addSkills(campaignID: campaignID, handle: handle, skills: skills)
            : try await routing.removeSkills(campaignID: campaignID, handle: handle, skills: skills)
    }

    func tags(conversationID: Int64) async throws -> [String] {
        try await RoutingService(database).tags(conversationID: conversationID)
    }

    func changeTags(campaignID: Int64, tags: [String], add: Bool, status: ConversationStatus?,
                    filter: ConversationFilter) async throws -> Int {
        try await RoutingService(database).changeTags(campaignID: campaignID, tags: tags, add: add, status: status,
                                                      filter: filter)
    }

    func changeTags(conversationID: Int64, tags: [String], add: Bool) async throws -> [String] {
        let routing = RoutingService(database)
        return add ? try await routing.addTags(conversationID: conversationID, tags: tags)
            : try await routing.removeTags(conversationID: conversationID, tags: tags)
    }

    func batch(id: Int64) async throws -> HistoryService.Batch { try await HistoryService(database).batch(id: id) }

    func batchChanges(id: Int64, limit: Int) async throws -> HistoryService.BatchChanges {
        let history = HistoryService(database)
        let batch = try await history.batch(id: id)
        return .init(batch: batch, changes: try await history.changes(batchID: id, limit: limit))
    }

    func conversationHistory(id: Int64) async throws -> HistoryService.ConversationHistory {
        .init(conversation_id: id, changes: try await HistoryService(database).conversation(id: id))
    }

    func campaignHistory(id: Int64, limit: Int) async throws -> HistoryService.CampaignHistory {
        .init(campaign_id: id, batches: try await HistoryService(database).campaign(id: id, limit: limit))
    }

    func campaign(id: Int64) async throws -> Campaign { try await CampaignService(database).campaign(id: id) }

    func createCampaign(org: String, name: String, settings: SelfAssignSettings) async throws -> Campaign {
        let organization = try await Directory(database).organization(org)
        return try await CampaignService(database).create(orgID: organization.id, name: name, settings: settings)
    }

    func updateCampaign(id: Int64, _ change: CampaignChange) async throws -> Campaign {
        let service = CampaignService(database)
        let teams = TeamService(database)
        if change.touchesTeams {
            // Checked first, applied last: a wrong team name changes none of the other settings.
            try await teams.requireExisting((change.teams ?? []) + (change.routingTeam.map { [$0] } ?? []),
                                            orgID: try await service.campaign(id: id).orgID)
        }
        if change.touchesRouting {
            _ = try await service.updateRouting(id: id, policy: change.policy, fallback: change.fallback,
                                                releaseStaleAfter: change.releaseStaleAfter,
                                                clearReleaseStale: change.clearReleaseStale)
        }
        let updated = try await service.update(id: id, selfAssign: change.selfAssign, batchSize: change.batchSize,
                                               maxOpen: change.maxOpen, clearMaxOpen: change.clearMaxOpen,
                                               requireFinishedBatch: change.requireFinishedBatch,
                                               requestApproval: change.requestApproval)
        guard change.touchesTeams else { return updated }
        return try await teams.configure(campaignID: id, teams: change.teams, routingTeam: change.routingTeam,
                                         clearRoutingTeam: change.clearRoutingTeam)
    }

    func addSenders(campaignID: Int64, handles: [String]) async throws {
        try await SenderService(database).add(campaignID: campaignID, handles: handles)
    }

    func deactivateSender(campaignID: Int64, handle: String) async throws {
        try await SenderService(database).deactivate(campaignID: campaignID, handle: handle)
    }

    func importContacts(campaignID: Int64, data: Data, fileName: String, progress: @escaping @Sendable (Int) -> Void)
        async throws -> Int {
        try await ContactImporter(database).importCSV(campaignID: campaignID, data: data, fileName: fileName,
                                                      progress: progress).imported
    }

    func senders(campaignID: Int64) async throws -> SenderList { try await SenderService(database).list(campaignID: campaignID) }

    func conversations(campaignID: Int64, assignee: ConversationService.AssigneeFilter, status: ConversationStatus?,
                       filter: ConversationFilter, limit: Int, cursor: String?) async throws -> ConversationService.Page {
        try await ConversationService(database).list(campaignID: campaignID, assignee: assignee, status: status,
                                                     filter: filter, limit: limit, cursor: cursor)
    }

    func backlog(campaignID: Int64, limit: Int) async throws -> RoutingService.Backlog {
        try await RoutingService(database).backlog(campaignID: campaignID, limit: limit)
    }

    func setAvailability(campaignID: Int64, handle: String, available: Bool) async throws {
        try await RoutingService(database).setAvailability(campaignID: campaignID, handle: handle, available: available)
    }

    func export(campaignID: Int64, status: ConversationStatus?, filter: ConversationFilter,
                line: (String) async throws -> Void) async throws {
        try await ConversationService(database).export(campaignID: campaignID, status: status, filter: filter, line: line)
    }

    func requestMore(campaignID: Int64, sender: String, count: Int?, actor: String?) async throws
        -> (result: BatchResult, pending: Int64?) {
        let grant = try await SelfAssignService(database).requestMore(campaignID: campaignID, sender: sender, count: count,
                                                                      actor: actor)
        return (grant.result, grant.pendingRequest)
    }

    func report(campaignID: Int64) async throws -> ReportService.Report {
        try await ReportService(database).report(campaignID: campaignID)
    }

    func teams(org: String) async throws -> [TeamService.Team] {
        try await TeamService(database).list(orgID: try await Directory(database).organization(org).id)
    }

    func createTeam(org: String, name: String) async throws -> TeamService.Team {
        try await TeamService(database).create(orgID: try await Directory(database).organization(org).id, name: name)
    }

    func changeTeam(org: String, team: String, handles: [String], add: Bool) async throws -> TeamService.Team {
        let orgID = try await Directory(database).organization(org).id
        let teams = TeamService(database)
        return add ? try await teams.add(orgID: orgID, team: team, handles: handles)
            : try await teams.remove(orgID: orgID, team: team, handles: handles)
    }

    func requests(campaignID: Int64, status: RequestService.Status?) async throws -> [RequestService.Request] {
        try await RequestService(database).list(campaignID: campaignID, status: status)
    }

    func approve(ids: [Int64], allOf campaignID: Int64?, count: Int?, actor: String) async throws
        -> [RequestService.Decision] {
        let service = RequestService(database)
        var ids = ids
        if let campaignID { ids = try await service.pendingIDs(campaignID: campaignID) }
        return try await service.approve(ids, count: count, actor: actor)
    }

    func deny(ids: [Int64], allOf campaignID: Int64?, note: String?, actor: String) async throws -> [RequestService.Request] {
        let service = RequestService(database)
        var ids = ids
        if let campaignID { ids = try await service.pendingIDs(campaignID: campaignID) }
        return try await service.deny(ids, note: note, actor: actor)
    }

    func release(campaignID: Int64, sender: String, actor: String?) async throws -> BatchResult {
        try await SelfAssignService(database).release(campaignID: campaignID, sender: sender, actor: actor)
    }

    func message(_ address: MessageService.Address, direction: MessageService.Direction, body: String, sender: String?,
                 leaveUnassigned: Bool) async throws -> MessageService.Recorded {
        try await MessageService(database).record(address, direction: direction, body: body, sender: sender,
                                                  leaveUnassigned: leaveUnassigned)
    }

    func close(conversationID: Int64, sender: String?) async throws -> Conversation {
        try await MessageService(database).close(conversationID: conversationID, sender: sender)
    }

    func markRead(conversationID: Int64, sender: String) async throws -> Conversation {
        let found = try await ConversationService(database).conversation(id: conversationID)
        let campaign = try await CampaignService(database).campaign(id: found.campaignID)
        let user = try await Directory(database).user(orgID: campaign.orgID, handle: sender)
        return try await MessageService(database).open(conversationID: conversationID, by: user.id)
    }

    func queue(sender: String?, org: String?, campaignID: Int64?, status: String?, limit: Int, cursor: String?)
        async throws -> ConversationService.Page {
        let filter = try ConversationService.QueueFilter(parsing: status)
        var userID: Int64? = nil
        if let sender {
            guard org != nil || campaignID != nil else {
                throw SwitchboardError(.invalid, "usage", "--sender needs --org or --campaign.")
            }
            var orgReference = org ?? ""
            if let campaignID { orgReference = String(try await CampaignService(database).campaign(id: campaignID).orgID) }
            let organization = try await Directory(database).organization(orgReference)
            userID = try await Directory(database).user(orgID: organization.id, handle: sender).id
        } else if let campaignID {
            _ = try await CampaignService(database).campaign(id: campaignID)
        }
        return try await ConversationService(database).queue(userID: userID, campaignID: campaignID, filter: filter,
                                                             limit: limit, cursor: cursor)
    }

    func watch(_ event: (Notifications.Event) async throws -> Void) async throws {
        try await database.client.withConnection { connection in
            for try await notification in try await connection.listen(Notifications.channel) {
                guard let decoded = try? Notifications.Event(payload: notification.payload) else { continue }
                try await event(decoded)
            }
        }
    }
}
