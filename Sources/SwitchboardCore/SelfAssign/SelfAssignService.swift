import Foundation
import Logging
import PostgresNIO

/// Self-assign: texters request conversations from the unassigned pool and release them back.
public struct SelfAssignService: Sendable {
    let database: Database
    /// How many requests of one campaign may run at once, per process and (through advisory locks) across
    /// processes; the rest queue first come, first served, before they take a connection. Unbounded SKIP LOCKED
    /// claimers all scan the same locked and dead entries at the head of the pool, and throughput collapses as
    /// they multiply.
    package var claimSlots: Int
    package var strategy: ClaimStrategy

    /// How the pool's rows are claimed. Production uses `boundedSkipLocked`; the others exist for the bench to
    /// measure against, so they are `package`, not public.
    package enum ClaimStrategy: String, Sendable, CaseIterable {
        /// `FOR UPDATE SKIP LOCKED`, with at most `claimSlots` claimers per campaign.
        case boundedSkipLocked = "bounded-skip-locked"
        /// `FOR UPDATE SKIP LOCKED`, every request at once.
        case skipLocked = "skip-locked"
        /// `FOR UPDATE`: each request waits for the rows the one before it locked.
        case plainLocking = "plain-locking"
    }

    public init(_ database: Database) {
        self.init(database, claimSlots: 4, strategy: .boundedSkipLocked)
    }

    package init(_ database: Database, claimSlots: Int, strategy: ClaimStrategy = .boundedSkipLocked) {
        self.database = database
        self.claimSlots = claimSlots
        self.strategy = strategy
    }

    var logger: Logger { database.logger }

    /// A grant: the batch result and the conversations given, as the claim statement returned them.
    public struct Grant: Sendable {
        public let result: BatchResult
        public let conversations: [Conversation]
        public var conversationIDs: [Int64] { conversations.map(\.id) }
    }

    /// Gives `handle` up to min(`count` or the batch size, the batch size, room under `max_open`) of the oldest
    /// unassigned, not-started conversations, as one batch of kind `self_assign`. A partial grant is a success;
    /// refusals carry the contract's reasons.
    public func requestMore(campaignID: Int64, sender handle: String, count: Int? = nil, actor: String? = nil,
                            orgID: Int64? = nil) async throws -> Grant {
        try await Telemetry.batch(.selfAssign, campaignID: campaignID, actor: actor ?? handle, logger: logger) {
            try await applyRequest(campaignID: campaignID, sender: handle, count: count, actor: actor, orgID: orgID)
        }
    }

    private func applyRequest(campaignID: Int64, sender handle: String, count: Int?, actor: String?, orgID: Int64?)
        async throws -> Grant
    {
        if let count, !(1...SelfAssignSettings.batchSizeRange.upperBound).contains(count) {
            throw SwitchboardError.invalid("invalid_count", "Count \(count) is out of range; ask for 1 to 5000 conversations.")
        }
        try Directory.validate(handle: handle)
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        guard campaign.settings.selfAssign else {
            throw SwitchboardError.refused("self_assign_disabled", "Campaign \(campaignID) does not allow self-assign.")
        }
        guard strategy == .boundedSkipLocked else { return try await grant(campaign, handle, count, actor) }
        do {
            // The server waits for the queue no longer than for a connection; the CLI waits as long as it takes.
            let queued = ContinuousClock.now
            return try await database.admission.run(campaign.id, limit: claimSlots, timeout: database.connectionWait) {
                Telemetry.selfAssignWait(ContinuousClock.now - queued)
                // A request whose caller went away while it queued claims nothing.
                try Task.checkCancellation()
                return try await grant(campaign, handle, count, actor)
            }
        } catch is AdmissionGate.TimedOut {
            throw SwitchboardError(.unavailable, "busy",
                                   "Too many requests for campaign \(campaign.id) are queued; try again shortly.")
        }
    }

    /// One request's transaction: the sender's rules, the claim, the batch.
    private func grant(_ campaign: Campaign, _ handle: String, _ count: Int?, _ actor: String?) async throws -> Grant {
        // Waits while an organizer's batch runs on the campaign (see `CampaignLock`).
        try await database.transaction(campaign: campaign.id, lock: .shared) { connection in
            let sender = try await lockSender(handle, campaign: campaign, on: connection)
            let room = try await room(for: sender, campaign: campaign, on: connection)
            let wanted = min(count ?? campaign.settings.batchSize, campaign.settings.batchSize, room)
            try await takeClaimSlot(campaignID: campaign.id, on: connection)
            let batchID = try await AssignmentService(database).nextBatchID(on: connection)
            let claimed = try await claim(wanted, for: sender, handle: handle, campaignID: campaign.id, batchID: batchID,
                                          on: connection)
            guard !claimed.isEmpty else {
                throw SwitchboardError.refused("pool_empty", "No more conversations available.")
            }
            try await SenderService.touch(campaignID: campaign.id, userID: sender, on: connection, logger: logger)
            try await AssignmentService(database).recordBatch(
                id: batchID, campaignID: campaign.id, kind: .selfAssign, actor: actor ?? handle, statusFilter: .only(.notStarted),
                parameters: ["sender": handle, "requested": String(count ?? campaign.settings.batchSize)],
                matched: claimed.count, moved: claimed.count, unchanged: 0,
                tallies: [.init(userID: sender, handle: handle, received: claimed.count, removed: 0)], on: connection)
            let result = BatchResult(batchID: batchID, operation: .selfAssign, campaignID: campaign.id,
                                     statusFilter: StatusFilter.only(.notStarted).name, matched: claimed.count,
                                     moved: claimed.count, unchanged: 0, dryRun: false,
                                     perSender: [SenderReceipt(handle: handle, received: claimed.count)],
                                     requested: count ?? campaign.settings.batchSize)
            return Grant(result: result, conversations: claimed)
        }
    }

    /// `handle` hands every not-started conversation they hold back to the pool, as one batch of kind `release`.
    public func release(campaignID: Int64, sender handle: String, actor: String? = nil, orgID: Int64? = nil) async throws
        -> BatchResult
    {
        try await Telemetry.batch(.release, campaignID: campaignID, actor: actor ?? handle, logger: logger) {
            try await applyRelease(campaignID: campaignID, sender: handle, actor: actor, orgID: orgID)
        }
    }

    private func applyRelease(campaignID: Int64, sender handle: String, actor: String?, orgID: Int64?) async throws
        -> BatchResult
    {
        try Directory.validate(handle: handle)
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        let assignments = AssignmentService(database)
        return try await database.transaction(.repeatableRead, campaign: campaign.id, lock: .shared) { connection in
            let sender = try await assignments.sender(handle, campaign: campaign, on: connection)
            let selection = AssignmentService.Selection(campaignID: campaign.id, source: .sender(handle),
                                                        sourceID: sender.id, status: .notStarted)
            let batchID = try await assignments.nextBatchID(on: connection)
            let outcome = try await assignments.move(selection, to: [nil], starts: [0], batchID: batchID, on: connection)
            try await SenderService.touch(campaignID: campaign.id, userID: sender.id, on: connection, logger: logger)
            let recorded = try await assignments.recordIfMoved(
                batchID, campaignID: campaign.id, kind: .release, actor: actor ?? handle, statusFilter: .only(.notStarted),
                parameters: ["sender": handle], outcome: outcome, on: connection)
            return BatchResult(batchID: recorded, operation: .release, campaignID: campaign.id,
                               statusFilter: StatusFilter.only(.notStarted).name, matched: outcome.matched,
                               moved: outcome.moved, unchanged: 0, dryRun: false, perSender: [])
        }
    }

    /// Locks the sender's row for this transaction, so that one sender's requests run one at a time and the
    /// rules below are checked and acted on atomically. NO KEY UPDATE does not conflict with the key-share
    /// locks that assignments to this sender take through the foreign key.
    private func lockSender(_ handle: String, campaign: Campaign, on connection: PostgresConnection) async throws -> Int64 {
        let users = try await connection.rows(
            "SELECT id FROM users WHERE org_id = \(campaign.orgID) AND handle = \(handle)", logger: logger)
        guard let user = users.first else {
            throw SwitchboardError.notFound("unknown_sender",
                                            "User '\(handle)' does not exist in the organization of campaign \(campaign.id).")
        }
        let id = try user.decode(Int64.self)
        let senders = try await connection.rows("""
            SELECT active FROM campaign_senders WHERE campaign_id = \(campaign.id) AND user_id = \(id)
            FOR NO KEY UPDATE
            """, logger: logger)
        guard let active = try senders.first?.decode(Bool.self) else {
            throw SwitchboardError.refused("not_a_sender", "User '\(handle)' is not a sender of campaign \(campaign.id).")
        }
        guard active else {
            throw SwitchboardError.refused("not_a_sender",
                                           "Sender '\(handle)' is deactivated on campaign \(campaign.id) and cannot request conversations.")
        }
        return id
    }

    /// How many more conversations the rules allow the sender; refuses when none.
    private func room(for sender: Int64, campaign: Campaign, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.rows("""
            SELECT count(*) FILTER (WHERE status = 'not_started'), count(*) FILTER (WHERE status NOT IN ('closed', 'opted_out'))
            FROM conversations WHERE campaign_id = \(campaign.id) AND assignee_id = \(sender)
            """, logger: logger)
        let (notStarted, open) = try rows[0].decode((Int, Int).self)
        if campaign.settings.requireFinishedBatch && notStarted > 0 {
            throw SwitchboardError.refused("unfinished_batch",
                                           "Send the \(notStarted) not-started conversations you hold before requesting more.")
        }
        guard let cap = campaign.settings.maxOpen else { return Int.max }
        guard open < cap else {
            throw SwitchboardError.refused("cap_reached",
                                           "You hold \(open) open conversations, the campaign's cap of \(cap); close some first.")
        }
        return cap - open
    }

    /// Takes one of the campaign's claim slots for this transaction, waiting for one if all are taken.
    private func takeClaimSlot(campaignID: Int64, on connection: PostgresConnection) async throws {
        guard strategy == .boundedSkipLocked else { return }
        let key = Int32(truncatingIfNeeded: campaignID)
        let rows = try await connection.rows("""
            SELECT slot FROM generate_series(1, \(Int32(claimSlots))) AS slot
            WHERE pg_try_advisory_xact_lock(\(key), -slot) LIMIT 1
            """, logger: logger)
        if rows.isEmpty {
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(key), -\(Int32.random(in: 1...Int32(claimSlots))))", logger: logger)
        }
    }

    /// Claims up to `count` of the oldest free pool conversations: rows locked by others are skipped, and the
    /// UPDATE re-checks that each is still unassigned and not started, so the count deltas it writes are exact.
    private func claim(_ count: Int, for sender: Int64, handle: String, campaignID: Int64, batchID: Int64,
                       on connection: PostgresConnection) async throws -> [Conversation] {
        let locking = strategy == .plainLocking ? "FOR UPDATE" : "FOR UPDATE SKIP LOCKED"
        let rows = try await ConversationCounts.writingOwnDeltas(on: connection, logger: logger) {
            try await connection.rows("""
                WITH candidates AS (
                    SELECT c.id FROM conversations c
                    WHERE c.campaign_id = \(campaignID) AND c.assignee_id IS NULL AND c.status = 'not_started'
                    ORDER BY c.created_at, c.id
                    LIMIT \(count)
                    \(unescaped: locking)
                ),
                claimed AS (
                    UPDATE conversations c SET assignee_id = \(sender), updated_at = now()
                    FROM candidates
                    WHERE c.campaign_id = \(campaignID) AND c.id = candidates.id
                      AND c.assignee_id IS NULL AND c.status = 'not_started'
                    RETURNING c.id, NULL::bigint AS from_id, c.assignee_id AS to_id, c.status, c.unread,
                              c.last_message_at, c.created_at
                ),
                history AS (
                    \(unescaped: HistoryService.recordMoves(from: "claimed", campaign: String(campaignID), batch: String(batchID)))
                ),
                pairs AS (SELECT from_id, to_id, status, count(*) AS n FROM claimed GROUP BY from_id, to_id, status),
                counted AS (
                    \(unescaped: ConversationCounts.recordDeltas(from: "pairs", campaign: String(campaignID)))
                )
                SELECT cl.id, p.phone, p.name, cl.status, cl.unread, cl.last_message_at, cl.created_at
                FROM claimed cl JOIN contacts p ON p.campaign_id = \(campaignID) AND p.id = cl.id
                ORDER BY cl.created_at, cl.id
                """, logger: logger)
        }
        return try rows.map { row in
            let (id, phone, name, status, unread, lastMessageAt, createdAt) =
                try row.decode((Int64, String, String, String, Bool, Date?, Date).self)
            return Conversation(id: id, campaignID: campaignID, phone: phone, name: name,
                                status: ConversationStatus(rawValue: status) ?? .notStarted, assignee: handle,
                                unread: unread, lastMessageAt: lastMessageAt, createdAt: createdAt)
        }
    }
}
