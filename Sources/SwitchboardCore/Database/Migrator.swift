import Crypto
import Foundation
import Logging
import PostgresNIO
import SwitchboardSchema

/// Applies the numbered `.sql` files of `sql/migrations` in order: all pending files in one transaction,
/// under an advisory lock, each recorded with a checksum so that an edited applied file is refused.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public let version: String
        public let sql: String
        public var checksum: String {
            SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
        }
    }

    public let migrations: [Migration]

    /// The migrations shipped inside the binary.
    public static func bundled() throws -> Migrator {
        let directory = Schema.migrationsDirectory
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        let migrations = try names.map { name in
            Migration(version: String(name.dropLast(4)),
                      sql: try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8))
        }
        return Migrator(migrations: migrations)
    }

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    /// Applies what is pending and returns the versions applied now (empty when up to date).
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
            return appliedNow
        }
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
