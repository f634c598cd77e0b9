import Foundation
import Logging
import PostgresNIO

/// Per-(assignee, status) conversation counts, kept in `conversation_counts` as append-only deltas (so that
/// concurrent writers never wait on a shared counter row) and folded together now and then.
package struct ConversationCounts: Sendable {
    let database: Database

    package init(_ database: Database) { self.database = database }

    struct Snapshot {
        var bySender: [Int64: StatusCounts] = [:]
        var unassigned = StatusCounts()
    }

    func counts(campaignID: Int64) async throws -> Snapshot {
        let rows = try await database.query("""
            SELECT assignee_id, status, sum(n)::bigint, count(*)::bigint FROM conversation_counts
            WHERE campaign_id = \(campaignID)
            GROUP BY assignee_id, status
            """)
        var snapshot = Snapshot()
        var deltaRows = 0
        for row in rows {
            let (assignee, status, n, pieces) = try row.decode((Int64?, String, Int64, Int64).self)
            deltaRows += Int(pieces)
            guard n != 0, let status = ConversationStatus(rawValue: status) else { continue }
            if let assignee {
                snapshot.bySender[assignee, default: .init()][status] = Int(n)
            } else {
                snapshot.unassigned[status] = Int(n)
            }
        }
        if deltaRows > 2 * rows.count + 64 {
            try await compact(campaignID: campaignID)
        }
        return snapshot
    }

    /// Folds a campaign's deltas into one row per (assignee, status). Concurrent writers keep appending;
    /// a concurrent compaction waits on the advisory lock's holder or skips.
    func compact(campaignID: Int64) async throws {
        try await database.transaction { connection in
            let locked = try await connection.rows(
                "SELECT pg_try_advisory_xact_lock(7402662, \(Int32(truncatingIfNeeded: campaignID)))",
                logger: database.logger)
            guard try locked.first?.decode(Bool.self) == true else { return }
            try await connection.query("""
                WITH folded AS (
                    DELETE FROM conversation_counts WHERE campaign_id = \(campaignID)
                    RETURNING assignee_id, status, n
                )
                INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
                SELECT \(campaignID), assignee_id, status, sum(n) FROM folded
                GROUP BY assignee_id, status HAVING sum(n) <> 0
                """, logger: database.logger)
        }
    }
}

extension ConversationCounts {
    /// Rebuilds a campaign's counts from its rows, after raw writes made with the counts trigger off. Only while
    /// nothing else writes to the campaign: the bench uses it for its own raw updates.
    package func rebuild(campaignID: Int64) async throws {
        try await database.transaction { connection in
            try await connection.query("DELETE FROM conversation_counts WHERE campaign_id = \(campaignID)",
                                       logger: database.logger)
            try await connection.query("""
                INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
                SELECT campaign_id, assignee_id, status, count(*) FROM conversations WHERE campaign_id = \(campaignID)
                GROUP BY campaign_id, assignee_id, status
                """, logger: database.logger)
        }
    }

    /// Runs `statement` with the row-level counts trigger off (migration 0006): the statement writes the deltas
    /// of what it moved itself, with `recordDeltas`, so that a million-row move adds a handful of delta rows
    /// instead of two million. Only for writers that know each moved row's old assignee and status exactly.
    /// The setting is transaction-local: if `statement` throws, the transaction rolls back and takes it along.
    @discardableResult
    static func writingOwnDeltas<T>(on connection: PostgresConnection, logger: Logger,
                                    _ statement: () async throws -> T) async throws -> T {
        try await switchTrigger(off: true, on: connection, logger: logger)
        let result = try await statement()
        try await switchTrigger(off: false, on: connection, logger: logger)
        return result
    }

    /// Switches the row-level counts trigger off or back on (`switchboard.counts_written`, migration 0006), for
    /// the current transaction or, with `session`, for the connection until switched back.
    package static func switchTrigger(off: Bool, session: Bool = false, on connection: PostgresConnection,
                              logger: Logger) async throws {
        try await connection.query(
            "SELECT set_config('switchboard.counts_written', \(off ? "on" : "off"), \(!session))", logger: logger)
    }

    /// An INSERT, for a CTE, of the count deltas of `pairs` (from_id, to_id, status, n): n conversations of
    /// that status moved from one assignee to the other (NULL is the pool).
    static func recordDeltas(from pairs: String, campaign: String) -> String {
        """
        INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
        SELECT \(campaign), assignee_id, status, sum(n) FROM (
            SELECT from_id AS assignee_id, status, -n AS n FROM \(pairs)
            UNION ALL
            SELECT to_id, status, n FROM \(pairs)
        ) sides GROUP BY assignee_id, status HAVING sum(n) <> 0
        """
    }
}
