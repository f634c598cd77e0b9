import ArgumentParser
import Foundation
import Logging
import SwitchboardCore
import SwitchboardLocalCluster

/// Flags every command takes.
struct GlobalOptions: ParsableArguments {
    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @Option(help: "PostgreSQL URL (else DATABASE_URL, else the embedded local cluster).")
    var databaseURL: String?

    @Option(help: ArgumentHelp("Run through this Switchboard server's API instead of the database (else SWITCHBOARD_SERVER), "
                               + "with the token of SWITCHBOARD_TOKEN or of 'switchboard login'.", valueName: "url"))
    var server: String?

    /// Remote mode's server and token (issue 22), or nil in direct mode.
    func remote() throws -> (server: URL, token: String)? {
        let environment = ProcessInfo.processInfo.environment
        guard let text = server ?? environment["SWITCHBOARD_SERVER"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        if databaseURL != nil {
            throw SwitchboardError(.invalid, "conflicting_options", "Give --server or --database-url, not both.")
        }
        let url = try Credentials.serverURL(text)
        if let token = environment["SWITCHBOARD_TOKEN"], !token.isEmpty { return (url, token) }
        if let stored = try Credentials.load(), stored.server == url.absoluteString { return (url, stored.token) }
        throw SwitchboardError(.invalid, "missing_token",
                               "No token for server \(url.absoluteString): set SWITCHBOARD_TOKEN or run 'switchboard login --server \(url.absoluteString)'.")
    }

    /// Refuses remote mode: for the commands that have no API route.
    func requireDirect() throws {
        guard try remote() == nil else {
            throw SwitchboardError(.invalid, "no_api_route",
                                   "This command has no API route; run it against the database with --database-url instead of --server.")
        }
    }

    /// Runs `body` with the API (remote mode) or with Core over the database (direct mode). A command written
    /// against `Backend` is written once for both.
    func withBackend<T: Sendable>(idempotencyKey: String? = nil, _ body: (any Backend) async throws -> T) async throws -> T {
        guard let (server, token) = try remote() else {
            if idempotencyKey != nil {
                throw SwitchboardError(.invalid, "idempotency_key_refused",
                                       "--idempotency-key needs --server; against the database a command runs once.")
            }
            return try await withDatabase { try await body(DirectBackend(database: $0)) }
        }
        return try await body(RemoteBackend(server: server, token: token,
                                            idempotencyKey: idempotencyKey ?? UUID().uuidString.lowercased()))
    }

    /// The database to use: --database-url, DATABASE_URL, or the project's embedded cluster (started on demand).
    /// `serve` is never remote, so SWITCHBOARD_SERVER in its environment (an admin's shell) does not stop it;
    /// only an explicit --server does.
    func resolveURL(serving: Bool = false) throws -> (url: DatabaseURL, embedded: Bool) {
        if !serving || server != nil { try requireDirect() }
        if let text = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty {
            return (try DatabaseURL(parsing: text), false)
        }
        return (try EmbeddedCluster.forProject().start(), true)
    }

    /// Runs `body` with a connected database whose schema is current. The embedded cluster is migrated on
    /// demand; an external database must be migrated with `switchboard migrate` first.
    func withDatabase<T: Sendable>(_ body: (Database) async throws -> T) async throws -> T {
        let (url, embedded) = try resolveURL()
        var logger = Logger(label: "switchboard")
        logger.logLevel = .error
        return try await Database.withDatabase(url: url, logger: logger) { database in
            let migrator = try Migrator.bundled()
            if embedded {
                try await migrator.migrate(database)
            } else if let pending = try await migrator.pending(database).first {
                throw SwitchboardError(.unavailable, "schema_not_migrated",
                                       "The database at \(url) lacks migration \(pending); run 'switchboard migrate' first.")
            }
            return try await body(database)
        }
    }

    /// Prints `value` as JSON when --json was given, else the human form.
    func emit(_ value: some Encodable, human: () -> String) throws {
        if json {
            let data = try JSONEncoder.switchboard.encode(value)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(human())
        }
    }

    /// Whether progress may be drawn: stderr is a terminal and the output is not JSON.
    var showsProgress: Bool { !json && isatty(STDERR_FILENO) != 0 }
}

/// Flags of the batch commands.
struct BatchOptions: ParsableArguments {
    @Option(name: .customLong("actor"), help: "Who is doing this, for history (default: the OS user; refused with --server, where history names the token's user).")
    var givenActor: String?

    @Option(help: "With --server: the Idempotency-Key to send (default: a new one per run); a repeat returns the first result.")
    var idempotencyKey: String?

    @Flag(help: "Report what would change, and change nothing.")
    var dryRun = false

    @Option(help: "A note stored with the batch and shown in history (at most 500 characters).")
    var note: String?
}

extension BatchOptions {
    /// The actor for history: `--actor` or the OS user in direct mode. Remote mode records the token's user, so
    /// `--actor` is refused there (the server ignores what is sent).
    func actor(_ backend: any Backend) throws -> String { try Self.actor(givenActor, backend) }

    /// The rule itself, for commands (such as `apply`) that take `--actor` without the other batch flags.
    static func actor(_ givenActor: String?, _ backend: any Backend) throws -> String {
        try refuseRemote(givenActor, backend)
        return backend.isRemote ? "token" : givenActor ?? Self.osUser
    }

    /// `--actor` with --server is refused, not ignored: the server records the token's user whatever is sent.
    static func refuseRemote(_ givenActor: String?, _ backend: any Backend) throws {
        if backend.isRemote && givenActor != nil {
            throw SwitchboardError(.invalid, "actor_refused", "--actor is refused with --server: history records the token's user.")
        }
    }

    static var osUser: String { ProcessInfo.processInfo.environment["USER"] ?? NSUserName() }
}

/// A line of progress on stderr, redrawn in place.
struct Progress: Sendable {
    let enabled: Bool

    func update(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Left-aligned text columns for human output.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }.joined(separator: "\n")
}

/// A JSON object built from pairs, for small outputs.
struct JSONObject: Encodable {
    let values: [String: JSONValue]

    init(_ values: [String: JSONValue]) { self.values = values }

    func encode(to encoder: any Encoder) throws { try values.encode(to: encoder) }
}

indirect enum JSONValue: Encodable {
    case string(String?)
    case int(Int64?)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let values): try container.encode(values)
        }
    }
}
