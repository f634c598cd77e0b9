import Foundation
import PostgresNIO

/// A `postgres://user:password@host:port/database` address, turned into a `PostgresClient` configuration.
/// `?host=/path/to/dir` selects a Unix socket directory; `?sslmode=disable|prefer|require` picks TLS.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var socketDirectory: String?
    public var sslMode: String

    public init(user: String, password: String?, host: String, port: Int, database: String,
                socketDirectory: String? = nil, sslMode: String = "disable") {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.socketDirectory = socketDirectory
        self.sslMode = sslMode
    }

    public init(parsing text: String) throws(SwitchboardError) {
        let bad = SwitchboardError.invalid(
            "invalid_database_url",
            "Database URL '\(Self.redacted(text))' is not of the form postgres://user:password@host:port/database.")
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql"
        else { throw bad }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard let user = components.user ?? query["user"], !user.isEmpty else { throw bad }
        self.user = user.removingPercentEncoding ?? user
        self.password = (components.password ?? query["password"]).map { $0.removingPercentEncoding ?? $0 }
        self.host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        self.port = components.port ?? Int(query["port"] ?? "") ?? 5432
        self.database = database.isEmpty ? self.user : database
        self.socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        self.sslMode = query["sslmode"] ?? "prefer"
        guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(sslMode) else { throw bad }
    }

    /// The same address with another database name (test suites clone databases).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    public var description: String {
        var text = "postgres://\(user)"
        if password != nil { text += ":***" }
        text += "@\(host):\(port)/\(database)"
        var query: [String] = []
        if let socketDirectory { query.append("host=\(socketDirectory)") }
        if sslMode != "prefer" { query.append("sslmode=\(sslMode)") }
        return query.isEmpty ? text : text + "?" + query.joined(separator: "&")
    }

    /// The full address, password included, for handing to another program.
    public var connectionString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        var items: [URLQueryItem] = []
        if let socketDirectory { items.append(URLQueryItem(name: "host", value: socketDirectory)) }
        items.append(URLQueryItem(name: "sslmode", value: sslMode))
        components.queryItems = items
        return components.string ?? description
    }

    /// The configuration for a pooled `PostgresClient`. With `serverLimit` (a server's request limit), every
    /// connection starts with PostgreSQL's own bounds: a statement, a lock wait and an idle open transaction
    /// each end after that long, whatever happens to the client.
    public func clientConfiguration(maximumConnections: Int = 20, serverLimit: Duration? = nil)
        -> PostgresClient.Configuration
    {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user,
                                  password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch sslMode {
            case "disable", "allow": tls = .disable
            case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
            default: tls = .prefer(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database,
                                  tls: tls)
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        if let serverLimit {
            let milliseconds = String(serverLimit.components.seconds * 1000
                                      + serverLimit.components.attoseconds / 1_000_000_000_000_000)
            configuration.options.additionalStartupParameters = [
                ("statement_timeout", milliseconds), ("lock_timeout", milliseconds),
                ("idle_in_transaction_session_timeout", milliseconds),
                // A backend whose client went away stops waiting on a lock or a statement within a second.
                ("client_connection_check_interval", "1000"),
            ]
        }
        return configuration
    }

    /// `text` with any password hidden, whether or not it parses: the part between `user:` and the last `@` of
    /// the authority, and `password=` in the query.
    static func redacted(_ text: String) -> String {
        var out = text
        if let scheme = out.range(of: "://") {
            let rest = out[scheme.upperBound...]
            if let at = rest.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                out.replaceSubrange(rest.index(after: colon)..<at, with: "***")
            }
        }
        return out.replacing(/(?i)(password=)[^&#]*/) { "\($0.1)***" }
    }
}
