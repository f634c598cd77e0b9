import Logging
import PostgresNIO

/// Organizers first. An organizer's or admin's batch on a campaign holds the campaign's lock exclusively for its
/// whole transaction, and every self-assign claim holds it shared. So while a batch runs, the campaign's claims
/// wait for it (PostgreSQL queues new shared requests behind a waiting exclusive one, so claims cannot starve
/// the batch either), and the batch meets no claim on the rows it moves: it retries only against other writers.
///
/// A claim takes it inside `switchboard_request_more` (migration 0014), for its transaction; a release takes it
/// here. The batch takes the lock at session level before `BEGIN`, so that its REPEATABLE READ snapshot is taken
/// after every claim before it has committed; taken inside the transaction, the statement taking it would
/// also take the snapshot, and the claims it waited for would look like concurrent changes.
///
/// A release also holds (campaign, 1) shared, the pool start's lock, from before `BEGIN` too: a claim moves the
/// campaign's pool start (migration 0018) only when it can take that key exclusively, so no claim moves it
/// between the release's snapshot and its return of conversations to the pool (which would fail the release's
/// write with a serialization failure, again and again while claims run).
public enum CampaignLock {
    /// Exclusive for organizers' and admins' batches, shared for texters' claims and releases.
    public enum Mode: Sendable { case exclusive, shared }

    /// The two-part advisory lock key: (campaign, 0). Claim slots use (campaign, -slot), the pool start (campaign, 1).
    static func key(_ campaignID: Int64) -> Int32 { Int32(truncatingIfNeeded: campaignID) }

    /// Runs `body` holding the campaign's lock in `mode`. If the lock cannot be given back, the connection is
    /// closed, which ends the session and its locks.
    static func holding<T>(_ campaignID: Int64, _ mode: Mode, on connection: PostgresConnection, logger: Logger,
                           _ body: () async throws -> T) async throws -> T {
        switch mode {
        case .exclusive: try await connection.query("SELECT pg_advisory_lock(\(key(campaignID)), 0)", logger: logger)
        case .shared:
            try await connection.query("""
                SELECT pg_advisory_lock_shared(\(key(campaignID)), 0), pg_advisory_lock_shared(\(key(campaignID)), 1)
                """, logger: logger)
        }
        let value: T
        do {
            value = try await body()
        } catch {
            await release(campaignID, mode, on: connection, logger: logger)
            throw error
        }
        await release(campaignID, mode, on: connection, logger: logger)
        return value
    }

    private static func release(_ campaignID: Int64, _ mode: Mode, on connection: PostgresConnection,
                                logger: Logger) async {
        do {
            switch mode {
            case .exclusive:
                try await connection.query("SELECT pg_advisory_unlock(\(key(campaignID)), 0)", logger: logger)
            case .shared:
                try await connection.query("""
                    SELECT pg_advisory_unlock_shared(\(key(campaignID)), 1), pg_advisory_unlock_shared(\(key(campaignID)), 0)
                    """, logger: logger)
            }
        } catch {
            try? await connection.close()
        }
    }
}
