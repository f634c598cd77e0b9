import Foundation
import Logging
import PostgresNIO

/// The assignment operations: Reassign All, Reassign Some, Unassign All, single reassign, undo.
/// Each is one transaction that writes one batch and one history row per conversation it moves, or changes
/// nothing; `dryRun` returns exactly what the real run would, and writes nothing.
public struct AssignmentService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    var logger: Logger { database.logger }

    // MARK: Resolving names

    struct Resolved {
        let campaign: Campaign
        /// The assignee the source selects: a sender's id, or nil with `sourceIsPool`/`sourceIsAnyone`.
        var sourceID: Int64?
        var source: Source
        /// Target user ids in dealing order, with their handles.
        var targets: [(id: Int64, handle: String)]
    }

    func resolveSource(_ source: Source, campaign: Campaign, on connection: PostgresConnection) async throws -> Int64? {
        guard case .sender(let handle) = source else { return nil }
        return try await sender(handle, campaign: campaign, on: connection).id
    }

    /// A sender of the campaign by handle, with whether they are active.
    func sender(_ handle: String, campaign: Campaign, on connection: PostgresConnection) async throws
        -> (id: Int64, active: Bool)
    {
        try await senders([handle], campaign: campaign, on: connection)[0]
    }

    /// Senders of the campaign by handle, in the order given, in one query; the first handle that is malformed,
    /// unknown or not a sender of the campaign is reported.
    func senders(_ handles: [String], campaign: Campaign, on connection: PostgresConnection) async throws
        -> [(id: Int64, active: Bool)]
    {
        for handle in handles { try Directory.validate(handle: handle) }
        let rows = try await connection.rows("""
            SELECT u.id, s.active FROM unnest(\(handles)::text[]) WITH ORDINALITY AS h(handle, position)
            LEFT JOIN users u ON u.org_id = \(campaign.orgID) AND u.handle = h.handle
            LEFT JOIN campaign_senders s ON s.campaign_id = \(campaign.id) AND s.user_id = u.id
            ORDER BY h.position
            """, logger: logger)
        return try zip(handles, rows).map { handle, row in
            let (id, active) = try row.decode((Int64?, Bool?).self)
            guard let id else {
                throw SwitchboardError.notFound("unknown_sender",
                                                "User '\(handle)' does not exist in the organization of campaign \(campaign.id).")
            }
            guard let active else {
                throw SwitchboardError.notFound("not_a_sender", "User '\(handle)' is not a sender of campaign \(campaign.id).")
            }
            return (id, active)
        }
    }

    /// The active senders a target names, in dealing order: as given, or every active sender by handle.
    /// With `availableOnly`, away senders are left out of `--to-all` and skipped among named targets; when that
    /// leaves nobody, the operation is refused.
    func resolveTargets(_ target: Target, campaign: Campaign, availableOnly: Bool = false,
                        on connection: PostgresConnection) async throws -> [(id: Int64, handle: String)]
    {
        switch target {
        case .team(let name):
            return try await TeamService.targets(name, campaign: campaign, availableOnly: availableOnly,
                                                 on: connection, logger: logger)
        case .allActive:
            let rows = try await connection.rows("""
                SELECT u.id, u.handle FROM campaign_senders s JOIN users u ON u.id = s.user_id
                WHERE s.campaign_id = \(campaign.id) AND s.active AND (s.available OR NOT \(availableOnly))
                ORDER BY u.handle COLLATE "C"
                """, logger: logger)
            guard !rows.isEmpty else {
                if availableOnly {
                    throw SwitchboardError.invalid("no_available_senders",
                                                   "Campaign \(campaign.id) has no active sender who is available.")
                }
                throw SwitchboardError.invalid("no_active_senders", "Campaign \(campaign.id) has no active senders to distribute to.")
            }
            return try rows.map { try $0.decode((Int64, String).self) }.map { (id: $0.0, handle: $0.1) }
        case .senders(let handles):
            guard !handles.isEmpty else {
                throw SwitchboardError.invalid("missing_target", "Name at least one sender to receive the conversations.")
            }
            var seen = Set<String>()
            for handle in handles where !seen.insert(handle).inserted {
                throw SwitchboardError.invalid("duplicate_target", "Sender '\(handle)' is named twice in the targets.")
            }
            let senders = try await senders(handles, campaign: campaign, on: connection)
            let targets = try zip(handles, senders).map { handle, sender in
                guard sender.active else {
                    throw SwitchboardError.invalid("inactive_target",
                                                   "Sender '\(handle)' is deactivated on campaign \(campaign.id) and cannot receive conversations.")
                }
                return (id: sender.id, handle: handle)
            }
            guard availableOnly else { return targets }
            let away = Set(try await connection.rows("""
                SELECT user_id FROM campaign_senders
                WHERE campaign_id = \(campaign.id) AND user_id = ANY(\(targets.map(\.id))::bigint[]) AND NOT available
                """, logger: logger).map { try $0.decode(Int64.self) })
            let available = targets.filter { !away.contains($0.id) }
            guard !available.isEmpty else {
                throw SwitchboardError.invalid("no_available_senders",
                                               "Every sender named is away on campaign \(campaign.id); nobody is left to receive.")
            }
            return available
        }
    }

    func campaign(_ id: Int64, orgID: Int64?) async throws -> Campaign {
        try await CampaignService(database).campaign(id: id, orgID: orgID)
    }

    // MARK: The move

    /// Which conversations a move takes.
    struct Selection {
        var campaignID: Int64
        var source: Source
        var sourceID: Int64?
        var status: ConversationStatus?
        /// The oldest `limit` only (Reassign Some).
        var limit: Int?
        /// One conversation only (single reassign).
        var conversationID: Int64?
        /// Assigned conversations only (Bulk Unassign All takes from anyone, but not from the pool).
        var assignedOnly = false
        /// Tags, times, fields, search and hand-picked ids: every one narrows.
        var filter = ConversationFilter()
        /// Previewed sets (by token hash) the conversations must be in: a run with a preview token moves only
        /// what the preview showed.
        var previews: [ByteBuffer] = []

        /// Appends the WHERE conditions selecting these conversations from `conversations c`.
        func conditions(_ statement: inout SQLStatement) {
            let campaign = statement.bind(campaignID)
            statement.append("c.campaign_id = \(campaign)")
            switch source {
            case .sender: statement.append(" AND c.assignee_id = \(statement.bind(sourceID))")
            case .unassigned: statement.append(" AND c.assignee_id IS NULL")
            case .anyone: break
            }
            if let status { statement.append(" AND c.status = \(statement.bind(status.rawValue))") }
            if let conversationID { statement.append(" AND c.id = \(statement.bind(conversationID))") }
            if assignedOnly { statement.append(" AND c.assignee_id IS NOT NULL") }
            filter.conditions(&statement, campaign: campaign)
            // The stored set is read once: `+ '{}'` makes the subquery's value a detoasted copy. Compared as the
            // column itself, every row detoasted it again (400 s instead of 2 s for a million rows).
            for preview in previews {
                statement.append("""
                     AND c.id <@ (SELECT ids + '{}'::int8multirange FROM preview_sets
                                  WHERE campaign_id = \(campaign) AND token_hash = \(statement.bind(preview)))
                    """)
            }
        }
    }

    /// How many conversations the selection takes (capped by its limit).
    func count(_ selection: Selection, on connection: PostgresConnection) async throws -> Int {
        var statement = SQLStatement()
        statement.append("SELECT count(*) FROM (SELECT 1 FROM conversations c WHERE ")
        selection.conditions(&statement)
        if let limit = selection.limit { statement.append(" LIMIT \(statement.bind(limit))") }
        statement.append(") matched")
        return try await connection.rows(statement.query, logger: logger)[0].decode(Int.self)
    }

    struct MoveOutcome {
        var matched: Int
        var moved: Int
        /// Every user the batch gave conversations to or took them from, by handle.
        var tallies: [Tally]
    }

    /// What one batch did to one user.
    struct Tally: Sendable {
        var userID: Int64
        var handle: String
        var received: Int
        var removed: Int
    }

    /// Deals the selected conversations, oldest first (creation order, then id), in blocks: target `i` takes
    /// positions `starts[i] ..< starts[i+1]`. A target of nil unassigns (sent as 0: user ids start at 1). Conversations already on their
    /// computed target are left alone. With a batch id, moves and writes history; without, only counts.
    /// No conversation id ever leaves the database. Dealing to several targets, or with a limit, needs `matched`:
    /// the selection counted in the same transaction.
    ///
    /// The UPDATE scans the selection once, as a bare UPDATE would, and each row finds its target from its own
    /// key (`Blocks`). History and count deltas are read from the same snapshot by the same statement: in
    /// REPEATABLE READ that is exactly the set the UPDATE changes, because a concurrent change to any of those
    /// rows fails the transaction, which is then retried; the statement checks the two counts agree all the
    /// same. When the blocks' keys do not allow that, the rows are numbered and joined instead.
    func move(_ selection: Selection, to targets: [Int64?], starts: [Int], matched: Int? = nil, batchID: Int64?,
              on connection: PostgresConnection) async throws -> MoveOutcome {
        precondition(targets.count == starts.count && !targets.isEmpty)
        let blocks: Blocks
        if targets.count == 1 && selection.limit == nil {
            blocks = .all
        } else {
            guard let matched else { preconditionFailure("dealing in blocks needs the matched count") }
            guard matched > 0 else { return MoveOutcome(matched: 0, moved: 0, tallies: []) }
            guard let found = try await Blocks.find(selection, starts: starts, matched: matched, on: connection,
                                                    logger: logger) else {
                return try await moveByNumbering(selection, to: targets, starts: starts, matched: matched,
                                                 batchID: batchID, on: connection)
            }
            blocks = found
        }
        var statement = SQLStatement()
        let campaign = statement.bind(selection.campaignID)
        let selected = statement.fragment { selection.conditions(&$0) } + blocks.end(in: &statement)
        let target = Self.target(statement.bind(targets.map { $0 ?? 0 }), bucket: blocks.bucket(in: &statement))
        statement.append("""
            WITH moved AS (
                SELECT c.id, c.assignee_id AS from_id, \(target) AS to_id, c.status
                FROM conversations c WHERE \(selected) AND c.assignee_id IS DISTINCT FROM \(target)
            ),

            """)
        var updated: String?
        if let batchID {
            statement.append("""
                updated AS (
                    UPDATE conversations c SET assignee_id = \(target), updated_at = now()
                    WHERE \(selected) AND c.assignee_id IS DISTINCT FROM \(target)
                    RETURNING 1
                ),
                history AS (
                \(HistoryService.recordMoves(from: "moved", campaign: campaign, batch: statement.bind(batchID)))
                ),

                """)
            updated = "(SELECT count(*) FROM updated)"
        }
        let counted = matched.map { statement.bind($0) } ?? "(SELECT count(*) FROM conversations c WHERE \(selected))"
        return try await outcome(of: &statement, matched: counted, updated: updated,
                                 countsCampaign: batchID == nil ? nil : campaign, on: connection)
    }

    /// The SQL expression for a row's target from the bound array of target ids (0 unassigns) and the row's
    /// 1-based block: a block past the array raises an error, so the transaction rolls back rather than unassign.
    static func target(_ targets: String, bucket: String) -> String {
        "nullif(coalesce((\(targets)::bigint[])[\(bucket)], switchboard_no_target((\(bucket))::int)), 0)"
    }

    /// The same move for selections whose block keys `Blocks` cannot use: numbers the selected rows in one
    /// sort, looks each number's target up by block, and joins the numbered rows back for the UPDATE. The plan
    /// is read once, so PostgreSQL pipelines it into the UPDATE instead of storing a million rows first.
    func moveByNumbering(_ selection: Selection, to targets: [Int64?], starts: [Int], matched: Int, batchID: Int64?,
                         on connection: PostgresConnection) async throws -> MoveOutcome {
        var statement = SQLStatement()
        let campaign = statement.bind(selection.campaignID)
        // The target is looked up by block in the array, so the plan is one sort and one pass.
        statement.append("""
            WITH plan AS (
                SELECT id, assignee_id AS from_id, \(Self.target(statement.bind(targets.map { $0 ?? 0 }),
                    bucket: "width_bucket(row_number() OVER (ORDER BY created_at, id) - 1, \(statement.bind(starts.map(Int64.init)))::bigint[])"))
                    AS to_id
                FROM (SELECT c.id, c.assignee_id, c.created_at FROM conversations c WHERE 
            """)
        selection.conditions(&statement)
        statement.append("""
             ORDER BY c.created_at, c.id LIMIT \(statement.bind(selection.limit))) taken
            ),

            """)
        if let batchID {
            statement.append("""
                moved AS (
                    UPDATE conversations c SET assignee_id = p.to_id, updated_at = now()
                    FROM plan p
                    WHERE c.campaign_id = \(campaign) AND c.id = p.id AND c.assignee_id IS DISTINCT FROM p.to_id
                    RETURNING c.id, p.from_id, p.to_id, c.status
                ),
                history AS (
                \(HistoryService.recordMoves(from: "moved", campaign: campaign, batch: statement.bind(batchID)))
                ),

                """)
        } else {
            statement.append("moved AS (SELECT id, from_id, to_id, NULL AS status FROM plan WHERE from_id IS DISTINCT FROM to_id),\n")
        }
        return try await outcome(of: &statement, matched: statement.bind(matched),
                                 countsCampaign: batchID == nil ? nil : campaign, on: connection)
    }

    /// Ends a statement whose CTE `moved` (id, from_id, to_id, status) is written, given the SQL expression that
    /// counts the matched conversations: counts what moved, and tallies each user's received and removed
    /// conversations, so that nothing reads the batch's history back. When the rows really moved, pass the
    /// campaign as `countsCampaign`: the statement then writes the count deltas itself, by status, with the row
    /// trigger off, and the old assignees in `moved` must be exact (a REPEATABLE READ snapshot guarantees it).
    /// When `moved` is read from the snapshot rather than returned by the UPDATE, `updated` is the SQL expression
    /// counting the rows the UPDATE changed, and the two counts must agree.
    func outcome(of statement: inout SQLStatement, matched: String, updated: String? = nil, countsCampaign: String?,
                 on connection: PostgresConnection) async throws -> MoveOutcome
    {
        statement.append("pairs AS (SELECT from_id, to_id, status, count(*) AS n FROM moved GROUP BY from_id, to_id, status)")
        if let countsCampaign {
            statement.append(",\ncounted AS (\(ConversationCounts.recordDeltas(from: "pairs", campaign: countsCampaign)))")
        }
        statement.append("""

            SELECT \(matched)::bigint, (SELECT coalesce(sum(n), 0) FROM pairs)::bigint, \(updated ?? "NULL")::bigint,
                   x.user_id, u.handle, x.received, x.removed
            FROM (SELECT 1) one
            LEFT JOIN (
                SELECT user_id, sum(received)::bigint AS received, sum(removed)::bigint AS removed FROM (
                    SELECT to_id AS user_id, n AS received, 0 AS removed FROM pairs
                    UNION ALL
                    SELECT from_id, 0, n FROM pairs
                ) sides WHERE user_id IS NOT NULL GROUP BY user_id
            ) x ON true
            LEFT JOIN users u ON u.id = x.user_id
            ORDER BY u.handle COLLATE "C"
            """)
        let run = { [logger, statement] () async throws -> MoveOutcome in
            var outcome = MoveOutcome(matched: 0, moved: 0, tallies: [])
            for try await (matched, moved, updated, userID, handle, received, removed) in try await connection.query(
                statement.query, logger: logger
            ).decode((Int, Int, Int?, Int64?, String?, Int?, Int?).self) {
                // Only a concurrent change the snapshot missed could part the two; the transaction is rolled back.
                if let updated, updated != moved {
                    throw SwitchboardError.conflict("concurrent_change",
                                                    "The batch updated \(updated) conversations but recorded \(moved); nothing was changed, try again.")
                }
                outcome.matched = matched
                outcome.moved = moved
                if let userID, let handle, let received, let removed {
                    outcome.tallies.append(Tally(userID: userID, handle: handle, received: received, removed: removed))
                }
            }
            return outcome
        }
        guard countsCampaign != nil else { return try await run() }
        return try await ConversationCounts.writingOwnDeltas(on: connection, logger: logger, run)
    }

    /// A new batch id, taken before the move so that history rows can carry it.
    /// Settings for a transaction that may move a million rows, for this transaction only: enough `work_mem`
    /// that its aggregations (history runs, count deltas) and the statement trigger's table of new rows stay in
    /// memory instead of spilling to temporary files, and no JIT, whose compiling cost more than it saved
    /// (docs/BENCHMARKS.md).
    static func sizeForBulk(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT set_config('work_mem', '256MB', true), set_config('jit', 'off', true)",
                                   logger: logger)
    }

    func nextBatchID(on connection: PostgresConnection) async throws -> Int64 {
        try await connection.rows(
            "SELECT nextval(pg_get_serial_sequence('assignment_batches', 'id'))", logger: logger)[0].decode(Int64.self)
    }

    /// Records the batch row once its counts are known; a batch that moved nothing is not recorded.
    func recordBatch(id: Int64, campaignID: Int64, kind: BatchKind, actor: String, statusFilter: StatusFilter,
                     parameters: [String: String], matched: Int, moved: Int, unchanged: Int, undoes: Int64? = nil,
                     note: String? = nil, tallies: [Tally], on connection: PostgresConnection) async throws {
        let parameters = String(decoding: try JSONEncoder.sorted.encode(parameters), as: UTF8.self)
        // Both in one round trip: the batch row, then the senders' notifications (sql/functions).
        try await connection.query("""
            SELECT switchboard_record_batch(\(id), \(campaignID), \(kind.rawValue), \(actor), \(statusFilter.name),
                                            \(parameters)::jsonb, \(matched)::int, \(moved)::int, \(unchanged)::int,
                                            \(undoes)::bigint, \(note)::text),
                   switchboard_announce_batch(\(id), \(campaignID), \(kind.rawValue), \(tallies.map(\.userID))::bigint[],
                                              \(tallies.map(\.handle))::text[], \(tallies.map(\.received))::int[],
                                              \(tallies.map(\.removed))::int[])
            """, logger: logger)
    }

    public static let maximumNote = 500

    /// A batch's note: at most 500 characters; blank is no note.
    public static func validate(note: String?) throws(SwitchboardError) -> String? {
        guard let note = note?.trimmingCharacters(in: .whitespacesAndNewlines), !note.isEmpty else { return nil }
        try Text.check(note, field: "note", maximum: maximumNote, code: "invalid_note")
        return note
    }

    static func validate(actor: String) throws(SwitchboardError) {
        try Text.check(actor, field: "actor", maximum: 200)
        guard (1...200).contains(Text.length(actor)) else {
            throw .invalid("invalid_actor", "Actor '\(actor)' must be 1 to 200 characters.")
        }
    }
}
