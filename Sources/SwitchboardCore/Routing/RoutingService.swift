import Foundation
import Logging
import PostgresNIO

/// Routing and availability (issue 19): skills and tags, away and available, who receives a reply nobody owns,
/// shift handoffs, escalation to a skill, and releasing replies left waiting. Every change of assignee here is a
/// batch in history like any other; the choice of who receives is made in the database by
/// `switchboard_pick_sender` (migration 0015), one decision at a time per campaign.
public struct RoutingService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    var logger: Logger { database.logger }

    // MARK: Availability

    /// Marks a sender away (routing gives them nothing) or available.
    public func setAvailability(campaignID: Int64, handle: String, available: Bool, orgID: Int64? = nil) async throws {
        _ = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        let sender = try await SenderService(database).sender(campaignID: campaignID, handle: handle)
        try await database.query("""
            UPDATE campaign_senders SET available = \(available)
            WHERE campaign_id = \(campaignID) AND user_id = \(sender.userID)
            """)
    }

    /// Whether user `userID` is available to routing in the campaign (false when not a sender).
    public func isAvailable(campaignID: Int64, userID: Int64) async throws -> Bool {
        try await database.query("""
            SELECT available FROM campaign_senders WHERE campaign_id = \(campaignID) AND user_id = \(userID)
            """).first?.decode(Bool.self) ?? false
    }

    // MARK: Skills and tags

    /// Skills and tags are free tags: `[a-z0-9._-]{1,64}`, lower-cased.
    public static func validate(tag: String, kind: String) throws(SwitchboardError) -> String {
        let tag = tag.trimmingCharacters(in: .whitespaces).lowercased()
        guard tag.wholeMatch(of: /[a-z0-9._-]{1,64}/) != nil else {
            throw .invalid("invalid_\(kind)", "The \(kind) '\(tag)' is invalid; use 1 to 64 of a-z, 0-9, '.', '_' and '-'.")
        }
        return tag
    }

    static func validate(tags: [String], kind: String) throws(SwitchboardError) -> [String] {
        guard !tags.isEmpty else { throw .invalid("missing_\(kind)", "Name at least one \(kind).") }
        var checked: [String] = []
        for tag in tags { checked.append(try validate(tag: tag, kind: kind)) }
        return checked
    }

    /// Gives a sender skills in a campaign (already held ones are kept). Returns the sender's skills.
    @discardableResult
    public func addSkills(campaignID: Int64, handle: String, skills: [String], orgID: Int64? = nil) async throws -> [String] {
        let skills = try Self.validate(tags: skills, kind: "skill")
        let sender = try await senderID(campaignID: campaignID, handle: handle, orgID: orgID)
        try await database.query("""
            INSERT INTO sender_skills (campaign_id, user_id, skill)
            SELECT \(campaignID), \(sender), skill FROM unnest(\(skills)::text[]) AS skill
            ON CONFLICT DO NOTHING
            """)
        return try await self.skills(campaignID: campaignID, orgID: orgID)[handle] ?? []
    }

    /// Takes skills away from a sender; a skill the sender does not have is named in the error, and nothing changes.
    @discardableResult
    public func removeSkills(campaignID: Int64, handle: String, skills: [String], orgID: Int64? = nil) async throws
        -> [String]
    {
        let skills = try Self.validate(tags: skills, kind: "skill")
        let sender = try await senderID(campaignID: campaignID, handle: handle, orgID: orgID)
        try await database.transaction { connection in
            let rows = try await connection.rows("""
                DELETE FROM sender_skills WHERE campaign_id = \(campaignID) AND user_id = \(sender)
                  AND skill = ANY(\(skills)::text[])
                RETURNING skill
                """, logger: logger)
            let removed = Set(try rows.map { try $0.decode(String.self) })
            if let missing = skills.first(where: { !removed.contains($0) }) {
                throw SwitchboardError.notFound("unknown_skill", "Sender '\(handle)' has no skill '\(missing)' in campaign \(campaignID).")
            }
        }
        return try await self.skills(campaignID: campaignID, orgID: orgID)[handle] ?? []
    }

    /// Every sender's skills in the campaign, by handle (senders without skills are left out).
    public func skills(campaignID: Int64, orgID: Int64? = nil) async throws -> [String: [String]] {
        _ = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        var skills: [String: [String]] = [:]
        for row in try await database.query("""
            SELECT u.handle, k.skill FROM sender_skills k JOIN users u ON u.id = k.user_id
            WHERE k.campaign_id = \(campaignID) ORDER BY u.handle COLLATE "C", k.skill COLLATE "C"
            """) {
            let (handle, skill) = try row.decode((String, String).self)
            skills[handle, default: []].append(skill)
        }
        return skills
    }

    private func senderID(campaignID: Int64, handle: String, orgID: Int64?) async throws -> Int64 {
        _ = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        return try await SenderService(database).sender(campaignID: campaignID, handle: handle).userID
    }

    /// Tags a conversation (already present ones are kept). Returns its tags.
    @discardableResult
    public func addTags(conversationID: Int64, tags: [String], orgID: Int64? = nil) async throws -> [String] {
        let tags = try Self.validate(tags: tags, kind: "tag")
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        try await database.query("""
            INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
            SELECT \(conversation.campaignID), \(conversationID), tag FROM unnest(\(tags)::text[]) AS tag
            ON CONFLICT DO NOTHING
            """)
        return try await self.tags(conversationID: conversationID, orgID: orgID)
    }

    /// Tags (or untags) every conversation of a campaign that the status and the filter select, in one statement.
    /// Returns how many conversations changed: already tagged ones are left as they are when adding, and
    /// conversations without the tags are skipped when removing (a bulk removal is not an error for them).
    public func changeTags(campaignID: Int64, tags: [String], add: Bool, status: ConversationStatus? = nil,
                           filter: ConversationFilter = .init(), assignee: ConversationService.AssigneeFilter = .anyone,
                           orgID: Int64? = nil) async throws -> Int {
        let tags = try Self.validate(tags: tags, kind: "tag")
        let filter = try filter.validated()
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        var assigneeID: Int64?
        if case .sender(let handle) = assignee {
            assigneeID = try await SenderService(database).sender(campaignID: campaign.id, handle: handle).userID
        }
        return try await database.transaction { connection in
            try await filter.checkPicked(campaignID: campaign.id, on: connection, logger: logger)
            var statement = SQLStatement()
            let campaignBind = statement.bind(campaign.id)
            let tagsBind = statement.bind(tags)
            var selected = statement.fragment { s in
                s.append("c.campaign_id = \(campaignBind)")
                if let status { s.append(" AND c.status = \(s.bind(status.rawValue))") }
                if let assigneeID { s.append(" AND c.assignee_id = \(s.bind(assigneeID))") }
                if assignee == .unassigned { s.append(" AND c.assignee_id IS NULL") }
            }
            selected += statement.fragment { filter.conditions(&$0, campaign: campaignBind, joins: true) }
            if add {
                statement.append("""
                    WITH changed AS (
                        INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
                        SELECT c.campaign_id, c.id, t.tag FROM conversations c, unnest(\(tagsBind)::text[]) AS t(tag)
                        WHERE \(selected)
                        ON CONFLICT DO NOTHING
                        RETURNING conversation_id
                    )
                    SELECT count(DISTINCT conversation_id) FROM changed
                    """)
            } else {
                statement.append("""
                    WITH changed AS (
                        DELETE FROM conversation_tags t USING conversations c
                        WHERE t.campaign_id = c.campaign_id AND t.conversation_id = c.id
                          AND t.tag = ANY(\(tagsBind)::text[]) AND \(selected)
                        RETURNING t.conversation_id
                    )
                    SELECT count(DISTINCT conversation_id) FROM changed
                    """)
            }
            return try await connection.rows(statement.query, logger: logger)[0].decode(Int.self)
        }
    }

    /// Removes tags; a tag the conversation does not carry is named in the error, and nothing changes.
    @discardableResult
    public func removeTags(conversationID: Int64, tags: [String], orgID: Int64? = nil) async throws -> [String] {
        let tags = try Self.validate(tags: tags, kind: "tag")
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        try await database.transaction { connection in
            let rows = try await connection.rows("""
                DELETE FROM conversation_tags
                WHERE campaign_id = \(conversation.campaignID) AND conversation_id = \(conversationID)
                  AND tag = ANY(\(tags)::text[])
                RETURNING tag
                """, logger: logger)
            let removed = Set(try rows.map { try $0.decode(String.self) })
            if let missing = tags.first(where: { !removed.contains($0) }) {
                throw SwitchboardError.notFound("unknown_tag", "Conversation \(conversationID) has no tag '\(missing)'.")
            }
        }
        return try await self.tags(conversationID: conversationID, orgID: orgID)
    }

    /// A conversation's tags, sorted.
    public func tags(conversationID: Int64, orgID: Int64? = nil) async throws -> [String] {
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        return try await database.query("""
            SELECT tag FROM conversation_tags WHERE campaign_id = \(conversation.campaignID)
              AND conversation_id = \(conversationID) ORDER BY tag COLLATE "C"
            """).map { try $0.decode(String.self) }
    }

    // MARK: Routing one batch

    /// What `switchboard_route` is asked to do.
    struct Route {
        var kind: BatchKind
        var campaign: Campaign
        var ids: [Int64]
        var policy: RoutingPolicy
        var skill: String? = nil
        var target: Int64? = nil
        /// Routing picks among this team's senders only.
        var team: Int64? = nil
        /// Instead of `target`: each target takes the ids dealt to it (a team's even or balanced split).
        var deals: [(target: Int64, ids: [Int64])]? = nil
        /// A conversation nobody can take goes to the pool (else it stays where it is).
        var release: Bool
        var actor: String
        var statusFilter: StatusFilter = .any
        var parameters: [String: String]
        var note: String? = nil
    }

    /// Routes the conversations as one batch in the caller's transaction: moves, history, the batch row and its
    /// notifications. Returns the batch (nil when nothing moved) and the receipts by handle.
    static func route(_ route: Route, on connection: PostgresConnection, database: Database) async throws
        -> (batchID: Int64?, moves: [(id: Int64, to: String?)], result: BatchResult)
    {
        let logger = database.logger
        let assignments = AssignmentService(database)
        let batchID = try await assignments.nextBatchID(on: connection)
        var rows: [PostgresRow] = []
        for (target, ids) in route.deals ?? [(route.target ?? 0, route.ids)] where !ids.isEmpty {
            let target = route.deals == nil ? route.target : target
            rows += try await connection.rows("""
                SELECT r.conversation_id, r.from_id, f.handle, r.to_id, t.handle
                FROM switchboard_route(\(route.campaign.id), \(ids)::bigint[], \(route.policy.rawValue), \(route.skill),
                                       \(target), \(route.release), \(batchID), \(route.team)) r
                LEFT JOIN users f ON f.id = r.from_id
                LEFT JOIN users t ON t.id = r.to_id
                """, logger: logger)
        }
        var moves: [(id: Int64, to: String?)] = []
        var tallies: [Int64: AssignmentService.Tally] = [:]
        for row in rows {
            let (id, from, fromHandle, to, toHandle) = try row.decode((Int64, Int64?, String?, Int64?, String?).self)
            moves.append((id, toHandle))
            if let to, let toHandle {
                tallies[to, default: .init(userID: to, handle: toHandle, received: 0, removed: 0)].received += 1
            }
            if let from, let fromHandle {
                tallies[from, default: .init(userID: from, handle: fromHandle, received: 0, removed: 0)].removed += 1
            }
        }
        let list = tallies.values.sorted { $0.handle < $1.handle }
        let outcome = AssignmentService.MoveOutcome(matched: route.ids.count, moved: moves.count, tallies: list)
        let recorded = try await assignments.recordIfMoved(batchID, campaignID: route.campaign.id, kind: route.kind,
                                                           actor: route.actor, statusFilter: route.statusFilter,
                                                           parameters: route.parameters, outcome: outcome,
                                                           note: route.note, on: connection)
        var result = BatchResult(batchID: recorded, operation: route.kind, campaignID: route.campaign.id,
                                 statusFilter: route.statusFilter.name, matched: route.ids.count, moved: moves.count,
                                 unchanged: route.ids.count - moves.count, dryRun: false,
                                 perSender: list.filter { $0.received > 0 }.map { SenderReceipt(handle: $0.handle, received: $0.received) })
        result.removedBySender = AssignmentService.removed(outcome)
        return (recorded, moves, result)
    }

    /// Runs `body` in a transaction that commits, or, for a dry run, reports the same result and rolls back.
    func batch(dryRun: Bool, campaign: Int64, _ body: @escaping @Sendable (PostgresConnection) async throws -> BatchResult)
        async throws -> BatchResult
    {
        guard dryRun else { return try await database.transaction(campaign: campaign, body) }
        do {
            _ = try await database.transaction(campaign: campaign) { connection in
                throw RolledBack(result: try await body(connection))
            }
        } catch let rolledBack as RolledBack {
            var result = rolledBack.result
            result.batchID = nil
            result.dryRun = true
            return result
        }
        preconditionFailure("a dry run always rolls back")
    }

    struct RolledBack: Error, CustomStringConvertible {
        let result: BatchResult
        var description: String { "dry run rolled back" }
    }

    // MARK: Handoff

    public struct HandoffRequest: Sendable {
        public var campaignID: Int64
        public var from: String
        /// One sender to receive everything; nil routes by `policy`.
        public var to: String?
        /// Nil: the campaign's routing policy. Manual releases the conversations to the pool.
        public var policy: RoutingPolicy?
        /// `any` moves the open ones (not closed, not opted out).
        public var status: StatusFilter
        public var actor: String
        public var note: String?
        public var dryRun: Bool
        public var orgID: Int64?
        /// A team receives everything: its active senders but the one handing off, in handle order (the available
        /// ones with `availableOnly`), evenly or balanced.
        public var toTeam: String?
        public var distribution: Distribution = .even
        public var availableOnly = false

        public init(campaignID: Int64, from: String, to: String? = nil, policy: RoutingPolicy? = nil,
                    status: StatusFilter = .any, actor: String, note: String? = nil, dryRun: Bool = false,
                    orgID: Int64? = nil) {
            self.campaignID = campaignID
            self.from = from
            self.to = to
            self.policy = policy
            self.status = status
            self.actor = actor
            self.note = note
            self.dryRun = dryRun
            self.orgID = orgID
        }
    }

    /// The shift change: a sender's open conversations go to one sender or by the routing policy, and the sender
    /// is marked away, as one batch (undo gives the conversations back; the sender stays away).
    public func handoff(_ request: HandoffRequest) async throws -> BatchResult {
        try await Telemetry.batch(.handoff, campaignID: request.campaignID, actor: request.actor, logger: logger) {
            try await applyHandoff(request)
        }
    }

    private func applyHandoff(_ request: HandoffRequest) async throws -> BatchResult {
        try AssignmentService.validate(actor: request.actor)
        let note = try AssignmentService.validate(note: request.note)
        if [request.to != nil, request.policy != nil, request.toTeam != nil].filter({ $0 }).count > 1 {
            throw SwitchboardError.invalid("conflicting_target",
                                           "Name one of a sender to hand off to, a team, or a policy, not several.")
        }
        let campaign = try await CampaignService(database).campaign(id: request.campaignID, orgID: request.orgID)
        let policy = request.policy ?? campaign.routing.policy
        let assignments = AssignmentService(database)
        return try await batch(dryRun: request.dryRun, campaign: campaign.id) { [database, logger] connection in
            let from = try await assignments.sender(request.from, campaign: campaign, on: connection)
            var target: Int64? = nil
            if let to = request.to {
                guard to != request.from else {
                    throw SwitchboardError.invalid("invalid_target", "Sender '\(to)' cannot hand off to themselves.")
                }
                target = try await assignments.resolveTargets(.senders([to]), campaign: campaign, on: connection)[0].id
            }
            let statuses = request.status.status.map { [$0.rawValue] } ?? ["not_started", "needs_reply", "waiting"]
            let ids = try await connection.rows("""
                SELECT id FROM conversations
                WHERE campaign_id = \(campaign.id) AND assignee_id = \(from.id) AND status = ANY(\(statuses)::text[])
                ORDER BY created_at, id
                """, logger: logger).map { try $0.decode(Int64.self) }
            try await connection.query("""
                UPDATE campaign_senders SET available = false WHERE campaign_id = \(campaign.id) AND user_id = \(from.id)
                """, logger: logger)
            var parameters = ["from": request.from,
                              "policy": request.to != nil ? "sender" : request.toTeam != nil ? "team" : policy.rawValue]
            if let to = request.to { parameters["to"] = to }
            var route = Route(kind: .handoff, campaign: campaign, ids: ids, policy: policy, target: target,
                              release: true, actor: request.actor, statusFilter: request.status,
                              parameters: parameters, note: note)
            guard let team = request.toTeam else {
                return try await Self.route(route, on: connection, database: database).result
            }
            let targets = try await TeamService.targets(team, campaign: campaign, availableOnly: request.availableOnly,
                                                        excluding: from.id, on: connection, logger: logger)
            route.parameters["to_team"] = team
            route.parameters["to"] = targets.map(\.handle).joined(separator: ",")
            route.parameters["distribution"] = request.distribution.rawValue
            let shares: [Int]
            switch request.distribution {
            case .even:
                shares = EvenSplit.shares(of: ids.count, over: targets.count)
            case .balance:
                let outside = AssignmentService.Selection(campaignID: campaign.id, source: .sender(request.from),
                                                          sourceID: from.id, status: request.status.status)
                shares = Balance.shares(of: ids.count, loads: try await assignments.openLoads(
                    of: targets.map(\.id), outside: outside, on: connection))
            }
            route.deals = zip(targets.map(\.id), AssignmentService.starts(shares).enumerated().map { index, start in
                Array(ids[start ..< start + shares[index]])
            }).map { ($0, $1) }
            return try await Self.route(route, on: connection, database: database).result
        }
    }

    // MARK: Escalation

    /// Reassigns a conversation to a skill: the least-loaded available sender with it (not its current assignee),
    /// or a refusal naming why nobody could take it.
    public func escalate(conversationID: Int64, skill: String, actor: String, note: String? = nil,
                         dryRun: Bool = false, orgID: Int64? = nil) async throws -> BatchResult {
        try await Telemetry.batch(.reassign, campaignID: nil, actor: actor, logger: logger) {
            try await applyEscalation(conversationID: conversationID, skill: skill, actor: actor, note: note,
                                      dryRun: dryRun, orgID: orgID)
        }
    }

    private func applyEscalation(conversationID: Int64, skill: String, actor: String, note: String?, dryRun: Bool,
                                 orgID: Int64?) async throws -> BatchResult {
        try AssignmentService.validate(actor: actor)
        let note = try AssignmentService.validate(note: note)
        let skill = try Self.validate(tag: skill, kind: "skill")
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        let campaign = try await CampaignService(database).campaign(id: conversation.campaignID, orgID: orgID)
        return try await batch(dryRun: dryRun, campaign: campaign.id) { [database, logger] connection in
            let route = Route(kind: .reassign, campaign: campaign, ids: [conversationID], policy: .leastLoaded,
                              skill: skill, release: false, actor: actor,
                              parameters: ["conversation": String(conversationID), "to_skill": skill], note: note)
            let routed = try await Self.route(route, on: connection, database: database)
            guard routed.moves.isEmpty else { return routed.result }
            throw try await Self.nobodyWith(skill: skill, conversation: conversationID, campaign: campaign,
                                            on: connection, logger: logger)
        }
    }

    /// Reassigns a conversation to a team: the least-loaded available sender of it (not its current assignee), or a
    /// refusal: `team_has_no_senders` when the team has no active sender in the campaign, else naming why nobody could.
    public func escalate(conversationID: Int64, toTeam team: String, actor: String, note: String? = nil,
                         dryRun: Bool = false, orgID: Int64? = nil) async throws -> BatchResult {
        try await Telemetry.batch(.reassign, campaignID: nil, actor: actor, logger: logger) {
            try AssignmentService.validate(actor: actor)
            let note = try AssignmentService.validate(note: note)
            try TeamService.validate(name: team)
            let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
            let campaign = try await CampaignService(database).campaign(id: conversation.campaignID, orgID: orgID)
            return try await batch(dryRun: dryRun, campaign: campaign.id) { [database, logger] connection in
                let members = try await TeamService.targets(team, campaign: campaign, availableOnly: false,
                                                            on: connection, logger: logger)
                let route = Route(kind: .reassign, campaign: campaign, ids: [conversationID], policy: .leastLoaded,
                                  team: try await TeamService.id(of: team, orgID: campaign.orgID, on: connection,
                                                                 logger: logger),
                                  release: false, actor: actor,
                                  parameters: ["conversation": String(conversationID), "to_team": team], note: note)
                let routed = try await Self.route(route, on: connection, database: database)
                guard routed.moves.isEmpty else { return routed.result }
                throw SwitchboardError.refused("no_sender_available",
                                               "Nobody in team '\(team)' can take conversation \(conversationID): \(members.map(\.handle).joined(separator: ", ")) are away, at the cap, outside the campaign's teams, or already hold it.")
            }
        }
    }

    /// Why nobody with the skill could take the conversation, sender by sender.
    static func nobodyWith(skill: String, conversation: Int64, campaign: Campaign, on connection: PostgresConnection,
                           logger: Logger) async throws -> SwitchboardError {
        let rows = try await connection.rows("""
            SELECT u.handle, s.active, s.available, c.assignee_id IS NOT DISTINCT FROM u.id,
                   coalesce((SELECT sum(x.n) FROM conversation_counts x WHERE x.campaign_id = s.campaign_id
                             AND x.assignee_id = u.id AND x.status IN ('not_started', 'needs_reply', 'waiting')), 0)::bigint
            FROM sender_skills k
            JOIN campaign_senders s ON s.campaign_id = k.campaign_id AND s.user_id = k.user_id
            JOIN users u ON u.id = k.user_id
            JOIN conversations c ON c.campaign_id = k.campaign_id AND c.id = \(conversation)
            WHERE k.campaign_id = \(campaign.id) AND k.skill = \(skill)
            ORDER BY u.handle COLLATE "C"
            """, logger: logger)
        guard !rows.isEmpty else {
            return .invalid("unknown_skill", "No sender of campaign \(campaign.id) has the skill '\(skill)'.")
        }
        let reasons = try rows.map { row in
            let (handle, active, available, holds, load) = try row.decode((String, Bool, Bool, Bool, Int64).self)
            if holds { return "\(handle) already holds it" }
            if !active { return "\(handle) is deactivated" }
            if !available { return "\(handle) is away" }
            return "\(handle) is at the cap (\(load) open of \(campaign.settings.maxOpen ?? 0))"
        }
        return .refused("no_sender_available",
                        "Nobody with the skill '\(skill)' can take conversation \(conversation): \(reasons.joined(separator: ", ")).")
    }

    // MARK: Stale replies

    /// Releases the conversations that have needed a reply from their assignee for longer than the campaign's
    /// `release_stale_after`, and routes them again by its policy (never back to the same sender; the pool when
    /// nobody can take them): one `release_stale` batch per campaign. With no campaign, every campaign that has
    /// the setting. A campaign another process is releasing right now is skipped (an advisory lock), so several
    /// servers never release the same conversation twice.
    public func releaseStale(campaignID: Int64? = nil, actor: String = "release-stale", dryRun: Bool = false,
                             orgID: Int64? = nil) async throws -> [BatchResult] {
        var campaigns: [Campaign]
        if let campaignID {
            let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
            guard campaign.routing.releaseStaleAfter != nil else {
                throw SwitchboardError.invalid("release_stale_off",
                                               "Campaign \(campaignID) does not release stale replies; set release_stale_after first.")
            }
            campaigns = [campaign]
        } else {
            campaigns = try await database.query(
                "SELECT \(unescaped: CampaignService.columns) FROM campaigns WHERE release_stale_after IS NOT NULL ORDER BY id"
            ).map(CampaignService.campaign(from:))
        }
        var results: [BatchResult] = []
        for campaign in campaigns {
            let result = try await batch(dryRun: dryRun, campaign: campaign.id) { [database, logger] connection in
                let locked = try await connection.rows(
                    "SELECT pg_try_advisory_xact_lock(7402664, \(Int32(truncatingIfNeeded: campaign.id)))", logger: logger)
                guard try locked[0].decode(Bool.self) else {
                    return BatchResult(batchID: nil, operation: .releaseStale, campaignID: campaign.id,
                                       statusFilter: "needs_reply", matched: 0, moved: 0, unchanged: 0, dryRun: false,
                                       perSender: [])
                }
                let ids = try await connection.rows("""
                    SELECT id FROM conversations
                    WHERE campaign_id = \(campaign.id) AND status = 'needs_reply' AND assignee_id IS NOT NULL
                      AND updated_at < now() - make_interval(mins => \(campaign.routing.releaseStaleAfter ?? 0)::int)
                    ORDER BY updated_at, id
                    """, logger: logger).map { try $0.decode(Int64.self) }
                let route = Route(kind: .releaseStale, campaign: campaign, ids: ids, policy: campaign.routing.policy,
                                  release: true, actor: actor, statusFilter: .only(.needsReply),
                                  parameters: ["after_minutes": String(campaign.routing.releaseStaleAfter ?? 0),
                                               "policy": campaign.routing.policy.rawValue])
                return try await Self.route(route, on: connection, database: database).result
            }
            results.append(result)
        }
        return results
    }

    // MARK: Backlog

    public struct Backlog: Sendable {
        public let campaignID: Int64
        public let policy: RoutingPolicy
        /// Unassigned conversations that need a reply.
        public let count: Int
        /// The oldest of them (creation order, as every list).
        public let conversations: [Conversation]
    }

    /// The replies nobody owns: unassigned conversations that need a reply, oldest first.
    public func backlog(campaignID: Int64, limit: Int = 100, orgID: Int64? = nil) async throws -> Backlog {
        guard (1...ConversationService.maximumLimit).contains(limit) else {
            throw SwitchboardError.invalid("invalid_limit",
                                           "Limit \(limit) is out of range; it must be from 1 to \(ConversationService.maximumLimit).")
        }
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        let counts = try await ConversationCounts(database).counts(campaignID: campaignID)
        let page = try await ConversationService(database).list(campaignID: campaignID, assignee: .unassigned,
                                                                status: .needsReply, limit: limit)
        return Backlog(campaignID: campaignID, policy: campaign.routing.policy, count: counts.unassigned[.needsReply],
                       conversations: page.conversations)
    }
}
