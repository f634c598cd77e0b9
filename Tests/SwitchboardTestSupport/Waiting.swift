import Foundation
import PostgresNIO
import SwitchboardCore

/// Waiting for something a test can observe, never for a fixed time: `condition` is asked every 50 ms until it
/// holds, for at most `limit` (a guard against a hang, not a timing claim). Returns whether it held.
@discardableResult
public func waitUntil(_ limit: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool {
    let end = ContinuousClock.now + limit
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < end else { return false }
        try await Task.sleep(for: .milliseconds(50))
    }
}

extension Database {
    /// How many backends of this database wait for a lock while running a statement that contains `text`.
    public func lockWaiters(running text: String) async throws -> Int {
        try await query("""
            SELECT count(*)::int FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%' || \(text) || '%'
              AND pid <> pg_backend_pid()
            """)[0].decode(Int.self)
    }

    /// How many other backends of this database are running a statement or sit inside a transaction.
    public func busyBackends() async throws -> Int {
        try await query("""
            SELECT count(*)::int FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
              AND state <> 'idle'
            """)[0].decode(Int.self)
    }
}
