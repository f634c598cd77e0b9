import Foundation
import Logging
import PostgresNIO
import SwitchboardCore
import SwitchboardLocalCluster

/// Databases for tests: a throwaway cluster for the whole test process (unless DATABASE_URL names a server),
/// a template migrated once, and a fresh database cloned from it for each test, so tests run in parallel
/// without seeing each other.
public enum TestDatabase {
    private static let server = Task<DatabaseURL, any Error> {
        if let text = ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty {
            return try DatabaseURL(parsing: text)
        }
        return try await offPool {
            // A run that was killed (or crashed) leaves its cluster behind; this run removes it.
            EmbeddedCluster.removeDeadThrowaways()
            return try EmbeddedCluster.throwaway(label: "test").1
        }
    }

    private static let template = Task<DatabaseURL, any Error> {
        let server = try await TestDatabase.server.value
        let name = "switchboard_template_\(getpid())"
        try await admin(server) { database in
            try await database.query("DROP DATABASE IF EXISTS \(unescaped: name)")
            try await database.query("CREATE DATABASE \(unescaped: name)")
        }
        let url = server.with(database: name)
        try await open(url, maximumConnections: 1) { database in
            try await Migrator.bundled().migrate(database)
        }
        return url
    }

    public static let logger: Logger = {
        var logger = Logger(label: "switchboard-tests")
        logger.logLevel = .critical
        return logger
    }()

    private static func admin<T: Sendable>(_ server: DatabaseURL, _ body: (Database) async throws -> T) async throws -> T {
        try await open(server.with(database: "postgres"), maximumConnections: 2, body)
    }

    /// At most two databases are cloned at once: a whole run starting together would otherwise open a connection
    /// per test to the server at the same moment, and the last ones time out.
    private static let cloning = Turnstile(2)

    /// A new, migrated, empty database.
    public static func make() async throws -> DatabaseURL {
        let template = try await TestDatabase.template.value
        let server = try await TestDatabase.server.value
        await cloning.enter()
        defer { Task { await cloning.leave() } }
        let name = "switchboard_test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        try await admin(server) { database in
            var attempt = 0
            while true {
                do {
                    try await database.query("CREATE DATABASE \(unescaped: name) TEMPLATE \(unescaped: template.database)")
                    return
                } catch where error.sqlState == "55006" && attempt < 50 {
                    // The template's last connection is still closing.
                    attempt += 1
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        return server.with(database: name)
    }

    /// Runs `body` against a new database with no migration applied (to test migrations on older data).
    public static func withEmpty<T: Sendable>(_ body: (Database) async throws -> T) async throws -> T {
        let server = try await TestDatabase.server.value
        let name = "switchboard_empty_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        try await admin(server) { database in
            try await database.query("CREATE DATABASE \(unescaped: name) TEMPLATE template0")
        }
        return try await open(server.with(database: name), maximumConnections: 4, body)
    }

    /// Runs `body` against a fresh database of its own.
    public static func with<T: Sendable>(maximumConnections: Int = 20, _ body: (Database) async throws -> T) async throws -> T {
        let url = try await make()
        return try await open(url, maximumConnections: maximumConnections, body)
    }

    /// `Database.withDatabase`, trying the connection up to three times before `body` begins: while every suite
    /// clones the template at once on a busy host, a first connection can take longer than the 5-second ping a
    /// command allows. A failure once `body` has begun is the test's own, and is not retried. Tests that open a
    /// database made by `make()` with settings of their own (a server limit, a log capture) open it through here.
    public static func open<T: Sendable>(_ url: DatabaseURL, logger: Logger = TestDatabase.logger,
                                         maximumConnections: Int = 20, serverLimit: Duration? = nil,
                                         _ body: (Database) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            var started = false
            do {
                return try await Database.withDatabase(url: url, logger: logger, maximumConnections: maximumConnections,
                                                       serverLimit: serverLimit) {
                    started = true
                    return try await body($0)
                }
            } catch let error as SwitchboardError where !started && error.code == "database_unavailable" && attempt < 3 {
                attempt += 1
            }
        }
    }
}

/// At most `width` holders at a time; the others wait their turn, first come first served.
actor Turnstile {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ width: Int) { free = width }

    func enter() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
