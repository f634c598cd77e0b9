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

    /// How the pool's rows are claimed. Production uses `boundedSkipLocked`; the other exists for the bench to
    /// measure against, so it is `package`, not public. (Plain `FOR UPDATE`, which made each request wait for the
    /// rows the one before it locked, was measured in earlier rounds: docs/BENCHMARKS.md.)
    package enum ClaimStrategy: String, Sendable, CaseIterable {
        /// `FOR UPDATE SKIP LOCKED`, with at most `claimSlots` claimers per campaign.
        case boundedSkipLocked = "bounded-skip-locked"
        /// `FOR UPDATE SKIP LOCKED`, every request at once.
        case skipLocked = "skip-locked"
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
        /// With request approval on: the request now waiting for an organizer (nothing was granted yet).
        public var pendingRequest: Int64? = nil
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
        guard strategy == .boundedSkipLocked else {
            return try await grant(campaignID, orgID: orgID, handle, count, actor, slots: 0)
        }
        do {
            // The server waits for the queue no longer than for a connection; the CLI waits as long as it takes.
            let queued = ContinuousClock.now
            return try await database.admission.run(campaignID, limit: claimSlots, timeout: database.connectionWait) {
                Telemetry.selfAssignWait(ContinuousClock.now - queued)
                // A request whose caller went away while it queued claims nothing.
                try Task.checkCancellation()
                return try await grant(campaignID, orgID: orgID, handle, count, actor, slots: claimSlots)
            }
        } catch is AdmissionGate.TimedOut {
            throw SwitchboardError(.unavailable, "busy",
                                   "Too many requests for campaign \(campaignID) are queued; try again shortly.")
        }
    }

    /// One request in one round trip: `switchboard_request_more` (migration 0014) checks the campaign and the
    /// sender's rules, claims, and records the batch, its history, counts and notification, all in the one
    /// statement's transaction; it returns the granted conversations, or one row saying why there are none. A
    /// request with an idempotency key runs it inside BEGIN … COMMIT instead, so that its response is recorded
    /// by the same transaction.
    private func grant(_ campaignID: Int64, orgID: Int64?, _ handle: String, _ count: Int?, _ actor: String?,
                       slots: Int) async throws -> Grant {
        let query = Self.claim(campaignID, orgID: orgID, handle, count, actor, slots: slots, request: nil)
        guard IdempotentRequest.Recorder.current == nil else {
            return try await database.transaction { [logger] connection in
                try Self.grant(from: try await connection.rows(query, logger: logger), campaignID: campaignID,
                               handle: handle, count: count)
            }
        }
        return try Self.grant(from: try await database.query(query), campaignID: campaignID, handle: handle, count: count)
    }

    /// The call of `switchboard_request_more`; with `request`, an organizer's approval of that request.
    static func claim(_ campaignID: Int64, orgID: Int64?, _ handle: String, _ count: Int?, _ actor: String?,
                      slots: Int, request: Int64?) -> PostgresQuery {
        """
            SELECT outcome, detail, batch_id, conversation_id, phone, name, status, unread, last_message_at, created_at
            FROM switchboard_request_more(\(campaignID)::bigint, \(orgID)::bigint, \(handle)::text, \(count)::integer,
                                          \(actor ?? handle)::text, \(CampaignLock.key(campaignID))::integer,
                                          \(slots)::integer, \(request)::bigint)
            """
    }

    /// The grant, or the refusal, that `switchboard_request_more` returned.
    static func grant(from rows: [PostgresRow], campaignID: Int64, handle: String, count: Int?) throws -> Grant {
        let (outcome, detail, pending) = try rows[0].decode((String, [Int]?, Int64?).self)
        if outcome == "pending", let pending {
            let result = BatchResult(batchID: nil, operation: .selfAssign, campaignID: campaignID,
                                     statusFilter: StatusFilter.only(.notStarted).name, matched: 0, moved: 0,
                                     unchanged: 0, dryRun: false, perSender: [], requested: count)
            return Grant(result: result, conversations: [], pendingRequest: pending)
        }
        guard outcome == "granted" else { throw refusal(outcome, detail ?? [], campaignID: campaignID, handle: handle) }
        var batchID: Int64 = 0
        let conversations = try rows.map { row in
            let (_, _, batch, id, phone, name, status, unread, lastMessageAt, createdAt) =
                try row.decode((String, [Int]?, Int64, Int64, String, String, String, Bool, Date?, Date).self)
            batchID = batch
            return Conversation(id: id, campaignID: campaignID, phone: phone, name: name,
                                status: ConversationStatus(rawValue: status) ?? .notStarted, assignee: handle,
                                unread: unread, lastMessageAt: lastMessageAt, createdAt: createdAt)
        }
        let result = BatchResult(batchID: batchID, operation: .selfAssign, campaignID: campaignID,
                                 statusFilter: StatusFilter.only(.notStarted).name, matched: conversations.count,
                                 moved: conversations.count, unchanged: 0, dryRun: false,
                                 perSender: [SenderReceipt(handle: handle, received: conversations.count)],
                                 requested: detail?.first ?? count ?? conversations.count)
        return Grant(result: result, conversations: conversations)
    }

    /// The error for a request `switchboard_request_more` refused.
    static func refusal(_ outcome: String, _ detail: [Int], campaignID: Int64, handle: String) -> SwitchboardError {
        switch outcome {
        case "unknown_campaign":
            return CampaignService.unknown(campaignID)
        case "self_assign_disabled":
            return .refused("self_assign_disabled", "Campaign \(campaignID) does not allow self-assign.")
        case "unknown_sender":
            return .notFound("unknown_sender", "User '\(handle)' does not exist in the organization of campaign \(campaignID).")
        case "not_a_sender":
            return .refused("not_a_sender", "User '\(handle)' is not a sender of campaign \(campaignID).")
        case "not_in_team":
            return .init(.forbidden, "not_in_team",
                         "User '\(handle)' is not in a team campaign \(campaignID) is limited to, and cannot request conversations.")
        case "sender_deactivated":
            return .refused("not_a_sender",
                            "Sender '\(handle)' is deactivated on campaign \(campaignID) and cannot request conversations.")
        case "unfinished_batch":
            return .refused("unfinished_batch",
                            "Send the \(detail.first ?? 0) not-started conversations you hold before requesting more.")
        case "cap_reached":
            let (open, cap) = (detail.first ?? 0, detail.dropFirst().first ?? 0)
            return .refused("cap_reached", "You hold \(open) open conversations, the campaign's cap of \(cap); close some first.")
        default:
            return .refused("pool_empty", "No more conversations available.")
        }
    }

    /// Whether `user` may Request Conversations in campaign `campaignID` now; if not, the refusal a request would get,
    /// with its sentence. The same rules the grant checks (`switchboard_request_rules`, and self-assign being on,
    /// the sender being active, the pool not empty), asked without claiming or locking: for a page deciding whether
    /// to offer the button, and what to say instead. Nil: a request now would be granted (unless others empty the
    /// pool first).
    public func eligibility(campaignID: Int64, user: User) async throws -> SwitchboardError? {
        let rows = try await database.query("""
            SELECT CASE WHEN NOT k.self_assign THEN 'self_assign_disabled'
                        WHEN s.user_id IS NULL THEN 'not_a_sender'
                        WHEN NOT s.active THEN 'sender_deactivated'
                        WHEN NOT switchboard_team_admits(k.id, \(user.id)) THEN 'not_in_team'
                        WHEN r.outcome <> 'ok' THEN r.outcome
                        WHEN NOT EXISTS (
                            SELECT 1 FROM conversations c
                            WHERE c.campaign_id = k.id AND c.assignee_id IS NULL AND c.status = 'not_started'
                        ) THEN 'pool_empty'
                        ELSE 'ok' END,
                   r.detail
            FROM campaigns k
            LEFT JOIN campaign_senders s ON s.campaign_id = k.id AND s.user_id = \(user.id)
            CROSS JOIN LATERAL switchboard_request_rules(k.id, \(user.id)) r
            WHERE k.id = \(campaignID) AND k.org_id = \(user.orgID)
            """)
        guard let row = rows.first else { throw CampaignService.unknown(campaignID) }
        let (outcome, detail) = try row.decode((String, [Int]?).self)
        return outcome == "ok" ? nil : Self.refusal(outcome, detail ?? [], campaignID: campaignID, handle: user.handle)
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
            try await AssignmentService.sizeForBulk(on: connection, logger: logger)
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
}
