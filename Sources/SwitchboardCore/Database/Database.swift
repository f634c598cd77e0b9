import Foundation
import Logging
import PostgresNIO

/// A pooled connection to Switchboard's PostgreSQL database, with transactions that retry on
/// serialization failures and deadlocks and errors mapped to `SwitchboardError`.
public struct Database: Sendable {
    public let client: PostgresClient
    public let url: DatabaseURL
    public let logger: Logger
    /// When set, waiting for a pooled connection gives up after this long and reports the database unavailable,
    /// so that a server answers 503 instead of hanging while PostgreSQL is unreachable. Unset (the CLI), work
    /// waits as long as it takes.
    public var connectionWait: Duration?
    /// When set together with `connectionWait`, work on a connection that runs longer than this is given up:
    /// its connection is closed (an open transaction rolls back) and the database is reported unavailable.
    public var workLimit: Duration?
    /// Whether the database answered lately; shared by every copy, and by the server's `/healthz`.
    public let health = DatabaseHealth()
    /// Per-key bounds on work that must not pile up inside PostgreSQL (self-assign claims), shared by every copy.
    public let admission = AdmissionGate()

    public init(client: PostgresClient, url: DatabaseURL, logger: Logger,
                connectionWait: Duration? = nil, workLimit: Duration? = nil) {
        self.client = client
        self.url = url
        self.logger = logger
        self.connectionWait = connectionWait
        self.workLimit = workLimit
    }

    /// The same database with no time limits: for migrations, which may take as long as they take.
    public var unbounded: Database {
        var copy = self
        copy.connectionWait = nil
        copy.workLimit = nil
        return copy
    }

    /// Runs `body` with a running client pool, closed again when `body` returns or throws.
    /// Fails with `database_unavailable` when the database cannot be reached.
    /// With `serverLimit`, the database is bounded as a server's is (see `ServerSettings.requestTimeout`).
    public static func withDatabase<T: Sendable>(
        url: DatabaseURL, logger: Logger = .quiet, maximumConnections: Int = 20, serverLimit: Duration? = nil,
        _ body: (Database) async throws -> T
    ) async throws -> T {
        let configuration = url.clientConfiguration(maximumConnections: maximumConnections, serverLimit: serverLimit)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let database = Database(client: client, url: url, logger: logger, connectionWait: serverLimit,
                                    workLimit: serverLimit)
            try await database.ping()
            return try await body(database)
        }
    }

    /// Checks that the database answers within `timeout`.
    public func ping(timeout: Duration = .seconds(5)) async throws {
        var database = self
        database.connectionWait = timeout
        database.workLimit = timeout
        try await database.query("SELECT 1")
    }

    /// Runs `body` with a pooled connection, under `connectionWait` and `workLimit` when those are set, both cut
    /// to what is left of the caller's `RequestDeadline`, and the wait cut to `DatabaseHealth.waitWhenDown` while
    /// the database is known to be down.
    public func withConnection<T>(_ body: @escaping (PostgresConnection) async throws -> T) async throws -> T {
        if let rehearsal = Self.rehearsal { return try await body(rehearsal) }
        guard var wait = connectionWait else { return try await client.withConnection(body) }
        var work = workLimit
        if health.isDown { wait = min(wait, DatabaseHealth.waitWhenDown) }
        if let remaining = RequestDeadline.remaining {
            wait = min(wait, remaining)
            work = min(work ?? remaining, remaining)
        }
        let prober = Task { [health, url] in
            try await Task.sleep(for: DatabaseHealth.probeAfter)
            health.probe(url)
        }
        defer { prober.cancel() }
        // Only the probe marks the database down: a request that overran its limit (a lock held elsewhere, a slow
        // statement) says nothing about whether PostgreSQL is there.
        let asked = ContinuousClock.now
        let value: T
        do {
            value = try await client.withConnection(
                timeout: max(wait, .zero), workLimit: work.map { max($0, .zero) },
                giveUp: { [health] waited in health.isDown && waited >= DatabaseHealth.waitWhenDown },
                unavailable: { [url] in Self.unavailable(url) }
            ) { connection in
                Telemetry.connectionLeased(after: ContinuousClock.now - asked)
                Telemetry.inUse.increment()
                defer { Telemetry.inUse.decrement() }
                return try await body(connection)
            }
        } catch let error as SwitchboardError where error.code == "database_unavailable" {
            Telemetry.gaveUp()
            throw error
        }
        health.markUp()
        return value
    }

    private static func unavailable(_ url: DatabaseURL) -> SwitchboardError {
        SwitchboardError(.unavailable, "database_unavailable", "The database at \(url) did not answer in time; try again shortly.")
    }

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
    }

    /// Runs `body` in one transaction: all of it commits, or none of it. A serialization failure or deadlock
    /// is retried up to `attempts` times with a short backoff, then reported as `busy`. With `campaign`, the
    /// transaction holds that campaign's lock in `lock` mode (see `CampaignLock`): exclusive for an organizer's
    /// batch, shared for a texter's claim or release.
    public func transaction<T: Sendable>(
        _ isolation: Isolation = .readCommitted, attempts: Int = 5, campaign: Int64? = nil,
        lock: CampaignLock.Mode = .exclusive,
        _ body: @escaping (PostgresConnection) async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await withConnection { [logger] connection in
                    guard let campaign else { return try await Self.run(isolation, body, on: connection, logger: logger) }
                    return try await CampaignLock.holding(campaign, lock, on: connection, logger: logger) {
                        try await Self.run(isolation, body, on: connection, logger: logger)
                    }
                }
            } catch where error.isRetryableConflict {
                guard attempt < attempts else {
                    throw SwitchboardError(.unavailable, "busy",
                                           "The campaign kept changing under this operation (\(attempts) attempts); nothing was changed, try again.")
                }
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...40) * attempt))
            } catch {
                throw mapped(error)
            }
        }
    }

    /// The connection of a rehearsal in progress in this task (see `rehearse`).
    @TaskLocal static var rehearsal: PostgresConnection?

    /// Runs `body` as a rehearsal: every statement it sends, through any service, goes to one connection inside
    /// one transaction, which is rolled back at the end. Each `transaction` inside becomes a savepoint, so a step
    /// that fails is undone alone and the next step sees the ones before it. This is how a plan of several batches
    /// is previewed with each step seeing the steps before it (`PlanService`); nothing of it is ever committed, and
    /// notifications sent inside are dropped with the rollback.
    public func rehearse<T: Sendable>(_ body: @escaping () async throws -> T) async throws -> T {
        try await withConnection { [logger] connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let value = try await Self.$rehearsal.withValue(connection) { try await body() }
                try await connection.query("ROLLBACK", logger: logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// BEGIN, `body`, and COMMIT (recording the response of an idempotent request first), or ROLLBACK. Inside a
    /// rehearsal: a savepoint, released or rolled back to.
    private static func run<T: Sendable>(_ isolation: Isolation, _ body: (PostgresConnection) async throws -> T,
                               on connection: PostgresConnection, logger: Logger) async throws -> T {
        if rehearsal != nil {
            try await connection.query("SAVEPOINT rehearsal_step", logger: logger)
            do {
                let value = try await body(connection)
                try await connection.query("RELEASE SAVEPOINT rehearsal_step", logger: logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK TO SAVEPOINT rehearsal_step", logger: logger)
                throw error
            }
        }
        try await connection.query("BEGIN ISOLATION LEVEL \(unescaped: isolation.rawValue)", logger: logger)
        do {
            let value = try await body(connection)
            let recorder = IdempotentRequest.Recorder.current.flatMap { $0.isSaved ? nil : $0 }
            try await recorder?.save(value, on: connection, logger: logger)
            try await connection.query("COMMIT", logger: logger)
            recorder?.committed()
            return value
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// Runs a single statement outside any explicit transaction.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        // In a rehearsal a failing statement must not abort the whole transaction: it gets a savepoint too.
        if Self.rehearsal != nil { return try await transaction { [logger] in try await $0.rows(query, logger: logger) } }
        do {
            return try await withConnection { [logger] connection in try await connection.rows(query, logger: logger) }
        } catch {
            throw mapped(error)
        }
    }

    /// Turns driver errors into a `SwitchboardError` with a sentence a user can act on.
    public func mapped(_ error: any Error) -> any Error {
        if let error = error as? SwitchboardError { return error }
        if let error = error as? PostgresTransactionError, let inner = error.closureError ?? error.commitError {
            return mapped(inner)
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .server:
                let state = error.sqlState ?? "?"
                let message = error.serverInfo?[.message] ?? "unknown server error"
                if state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03" {
                    return SwitchboardError(.unavailable, "database_unavailable",
                                            "The database at \(url) is unavailable: \(message).")
                }
                if state == "28P01" || state == "28000" || state == "3D000" {
                    return SwitchboardError(.unavailable, "database_unavailable",
                                            "The database at \(url) refused the connection: \(message).")
                }
                if state == "22021" || state == "22P05" {
                    return SwitchboardError(.invalid, "invalid_text",
                                            "The text contains a character the database cannot store (such as NUL).")
                }
                if state == "57014" || state == "55P03" {
                    return SwitchboardError(.unavailable, "busy",
                                            "The database took too long to answer (\(message)); nothing was changed, try again.")
                }
                return error
            case .queryCancelled:
                return error
            default:
                return SwitchboardError(.unavailable, "database_unavailable",
                                        "The database at \(url) cannot be reached (\(error.code)).")
            }
        }
        if error is CancellationError { return error }
        let text = String(describing: error)
        if text.contains("connect") || text.contains("Connection") || text.contains("NIOConnectionError") {
            return SwitchboardError(.unavailable, "database_unavailable",
                                    "The database at \(url) cannot be reached: \(text).")
        }
        return error
    }
}

extension Logger {
    /// Errors only: the driver's connection retries are not news to a CLI user.
    public static var quiet: Logger {
        var logger = Logger(label: "switchboard")
        logger.logLevel = .error
        return logger
    }
}

extension Error {
    /// The five-character SQLSTATE of a server error.
    public var sqlState: String? {
        if let error = self as? PSQLError { return error.serverInfo?[.sqlState] }
        if let error = self as? PostgresTransactionError { return error.closureError?.sqlState }
        return nil
    }

    /// Serialization failures and deadlocks: the transaction may simply be run again.
    var isRetryableConflict: Bool { sqlState == "40001" || sqlState == "40P01" }

    /// The constraint a server error names, if any.
    var constraintName: String? {
        (self as? PSQLError)?.serverInfo?[.constraintName]
    }
}

extension PostgresRowSequence {
    /// All rows, for small results.
    func collect() async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in self { rows.append(row) }
        return rows
    }
}

extension PostgresConnection {
    /// Runs a statement and returns its rows (small results only).
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}
