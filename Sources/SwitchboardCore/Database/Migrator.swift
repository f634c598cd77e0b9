import Crypto
import Foundation
import Logging
import PostgresNIO
import SwitchboardSchema

/// Applies the numbered `.sql` files of `sql/migrations` in order: all pending files in one transaction,
/// under an advisory lock, each recorded with a checksum so that an edited applied file is refused. Then, in
/// the same transaction, the files of `sql/functions` (one per function, its current definition): each is
/// applied when its checksum differs from the one recorded, and all of them after any migration ran (a
/// migration may have replaced a function with an older body). Migrations change tables; functions live in
/// their files.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public let version: String
        public let sql: String
        public var checksum: String {
            SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
        }
    }

    public let migrations: [Migration]
    /// The function files, by name (`version` is the function's name).
    public let functions: [Migration]

    /// The migrations and function files shipped inside the binary.
    public static func bundled() throws -> Migrator {
        Migrator(migrations: try files(in: Schema.migrationsDirectory), functions: try files(in: Schema.functionsDirectory))
    }

    static func files(in directory: URL) throws -> [Migration] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
            .map { name in
                Migration(version: String(name.dropLast(4)),
                          sql: try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8))
            }
    }

    /// Without `functions`, only migrations are applied (a test bringing a database to an older version).
    public init(migrations: [Migration], functions: [Migration] = []) {
        self.migrations = migrations
        self.functions = functions
    }

    /// Applies what is pending and returns the migrations applied now, then `function NAME` for each function
    /// whose definition changed (empty when up to date).
    @discardableResult
    public func migrate(_ database: Database) async throws -> [String] {
        try await database.transaction { connection in
            let logger = database.logger
            // A migration may rewrite a big table: a server's statement limits do not apply to it.
            try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            try await connection.query("SET LOCAL lock_timeout = 0", logger: logger)
            // One lock id for every Switchboard migrator, whichever database it points at.
            try await connection.query("SELECT pg_advisory_xact_lock(7402661)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version text PRIMARY KEY,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var applied: [String: String] = [:]
            for try await (version, checksum) in try await connection.query(
                "SELECT version, checksum FROM schema_migrations", logger: logger
            ).decode((String, String).self) {
                applied[version] = checksum
            }
            let known = Set(migrations.map(\.version))
            if let unknown = applied.keys.sorted().first(where: { !known.contains($0) }) {
                throw SwitchboardError(.conflict, "unknown_migration",
                                       "The database has migration \(unknown) applied, which this build does not know; use a newer switchboard.")
            }
            var appliedNow: [String] = []
            for migration in migrations {
                if let checksum = applied[migration.version] {
                    guard checksum == migration.checksum else {
                        throw SwitchboardError(.conflict, "edited_migration",
                                               "Migration \(migration.version) was edited after it was applied; add a new migration instead.")
                    }
                    continue
                }
                for statement in SQLScript.statements(in: migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, checksum) VALUES (\(migration.version), \(migration.checksum))",
                    logger: logger)
                appliedNow.append(migration.version)
            }
            return appliedNow + (try await applyFunctions(on: connection, afterMigrations: !appliedNow.isEmpty, logger: logger))
        }
    }

    /// Applies the function files whose checksum changed, or every one after migrations ran; returns
    /// `function NAME` for those that changed.
    private func applyFunctions(on connection: PostgresConnection, afterMigrations: Bool, logger: Logger) async throws
        -> [String]
    {
        guard !functions.isEmpty else { return [] }
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_functions (
                name text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        var recorded: [String: String] = [:]
        for try await (name, checksum) in try await connection.query(
            "SELECT name, checksum FROM schema_functions", logger: logger
        ).decode((String, String).self) {
            recorded[name] = checksum
        }
        // Functions may call one another; bodies are checked when they first run, not in file order (as pg_dump
        // restores them).
        try await connection.query("SET LOCAL check_function_bodies = off", logger: logger)
        var changed: [String] = []
        for function in functions where afterMigrations || recorded[function.version] != function.checksum {
            for statement in SQLScript.statements(in: function.sql) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            guard recorded[function.version] != function.checksum else { continue }
            try await connection.query("""
                INSERT INTO schema_functions (name, checksum) VALUES (\(function.version), \(function.checksum))
                ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()
                """, logger: logger)
            changed.append("function \(function.version)")
        }
        return changed
    }
}

extension Migrator {
    /// The versions not yet applied to `database`.
    public func pending(_ database: Database) async throws -> [String] {
        let exists = try await database.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
        guard try exists.first?.decode(Bool.self) == true else { return migrations.map(\.version) }
        let rows = try await database.query("SELECT version FROM schema_migrations")
        let applied = Set(try rows.map { try $0.decode(String.self) })
        return migrations.map(\.version).filter { !applied.contains($0) }
    }
}
