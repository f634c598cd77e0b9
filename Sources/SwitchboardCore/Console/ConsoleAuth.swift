import Foundation
import HummingbirdBcrypt
import NIOPosix
import PostgresNIO

/// Signing in to the web console: passwords kept as bcrypt hashes, sessions kept in PostgreSQL (they survive a
/// restart and are shared by every server process), each with a CSRF token bound to it.
public struct ConsoleAuth: Sendable {
    let database: Database
    /// bcrypt's cost for new hashes (checking a password uses the cost its hash was made with).
    let cost: UInt8

    /// `cost` 4 is for tests only: a debug build spends about a second on each cost-11 hash.
    public init(_ database: Database, cost: UInt8 = ConsoleAuth.defaultCost) {
        self.database = database
        self.cost = cost
    }

    /// Sessions end after this long without a request.
    public static let idleLifetime: TimeInterval = 12 * 60 * 60
    /// After this many failed sign-ins for one handle, tries are at least `failurePause` apart.
    public static let failuresBeforePause = 5
    public static let failurePause: TimeInterval = 1
    /// bcrypt's cost: 2^11 rounds, about a quarter of a second on this kind of machine (release build).
    public static let defaultCost: UInt8 = 11

    /// A signed-in session: who, and the CSRF token its forms carry.
    public struct Session: Sendable {
        public let user: User
        public let csrfToken: String
    }

    /// Sets `handle`'s password (at least 8 characters).
    public func setPassword(orgID: Int64, handle: String, password: String) async throws {
        let hash = try await hash(password: password)
        let user = try await Directory(database).user(orgID: orgID, handle: handle)
        try await database.query("UPDATE users SET password_hash = \(hash) WHERE id = \(user.id)")
    }

    /// Signs in with a handle (in `organization`, a name or id, when given) and a password, and returns the new
    /// session's token. The refusal never says whether the handle exists.
    public func signIn(organization: String?, handle: String, password: String) async throws -> (token: String, session: Session) {
        try Text.check(handle, field: "handle", maximum: 64)
        try Text.check(password, field: "password", maximum: 200)
        try Text.check(organization ?? "", field: "organization", maximum: 200)
        let refused = SwitchboardError(.unauthorized, "sign_in_failed", "The handle or password is not right.")
        let waiting = try await database.query("""
            SELECT failures >= \(Self.failuresBeforePause)
                   AND last_failure_at > now() - make_interval(secs => \(Self.failurePause))
            FROM sign_in_failures WHERE handle = \(handle)
            """)
        if try waiting.first?.decode(Bool.self) == true {
            throw SwitchboardError(.refused, "slow_down", "Too many failed sign-ins for this handle; wait a second and try again.")
        }
        let organization = organization?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        let rows = try await database.query("""
            SELECT u.id, u.org_id, u.handle, u.name, u.role, u.active, u.password_hash
            FROM users u JOIN organizations o ON o.id = u.org_id
            WHERE u.handle = \(handle) AND u.active AND u.password_hash IS NOT NULL
              AND (\(organization)::text IS NULL OR o.name = \(organization) OR o.id::text = \(organization))
            """)
        var matched: [User] = []
        for row in rows {
            let (id, orgID, handle, name, role, active, hash) =
                try row.decode((Int64, Int64, String, String, String, Bool, String).self)
            if try await Self.offload({ Bcrypt.verify(password, hash: hash) }) {
                matched.append(User(id: id, orgID: orgID, handle: handle, name: name, role: Role(rawValue: role) ?? .texter,
                                    active: active))
            }
        }
        if rows.isEmpty {
            // Spend the same time as a real check, so timing does not tell whether the handle exists.
            _ = try await Self.offload { Bcrypt.verify(password, hash: Self.decoy) }
        }
        guard matched.count == 1, let user = matched.first else {
            try await database.query("""
                INSERT INTO sign_in_failures (handle, failures, last_failure_at) VALUES (\(handle), 1, now())
                ON CONFLICT (handle) DO UPDATE SET failures = sign_in_failures.failures + 1, last_failure_at = now()
                """)
            if matched.count > 1 {
                throw SwitchboardError(.invalid, "organization_needed",
                                       "Handle '\(handle)' is in several organizations; name yours.")
            }
            throw refused
        }
        try await database.query("DELETE FROM sign_in_failures WHERE handle = \(handle)")
        return try await openSession(for: user)
    }

    /// A new session for `user` (after a sign-in, a join by invite or a password set by link).
    public func openSession(for user: User) async throws -> (token: String, session: Session) {
        let token = Self.randomToken()
        let csrf = Self.randomToken()
        try await database.query("""
            INSERT INTO web_sessions (token_hash, org_id, user_id, csrf_token)
            VALUES (\(Directory.hash(token)), \(user.orgID), \(user.id), \(csrf))
            """)
        if Int.random(in: 0..<50) == 0 {
            try await database.query("""
                DELETE FROM web_sessions WHERE last_seen_at < now() - make_interval(secs => \(Self.idleLifetime))
                """)
        }
        return (token, Session(user: user, csrfToken: csrf))
    }

    /// A bcrypt hash of `password` (at least 8 characters), made off the cooperative pool.
    func hash(password: String) async throws -> String {
        try Text.check(password, field: "password", maximum: 72)
        guard Text.length(password) >= 8 else {
            throw SwitchboardError.invalid("weak_password", "The password must have at least 8 characters.")
        }
        return try await Self.offload { [cost] in Bcrypt.hash(password, cost: cost) }
    }

    /// The session a cookie's token names, if it is live; marks it seen (at most once a minute).
    public func session(token: String) async throws -> Session? {
        guard Self.plausible(token, minimum: 16) else { return nil }
        let rows = try await database.query("""
            WITH live AS (
                SELECT s.token_hash, s.csrf_token, s.last_seen_at, u.id, u.org_id, u.handle, u.name, u.role, u.active
                FROM web_sessions s JOIN users u ON u.org_id = s.org_id AND u.id = s.user_id
                WHERE s.token_hash = \(Directory.hash(token)) AND u.active
                  AND s.last_seen_at > now() - make_interval(secs => \(Self.idleLifetime))
            ),
            seen AS (
                UPDATE web_sessions s SET last_seen_at = now() FROM live
                WHERE s.token_hash = live.token_hash AND live.last_seen_at < now() - interval '1 minute'
            )
            SELECT id, org_id, handle, name, role, active, csrf_token FROM live
            """)
        guard let row = rows.first else { return nil }
        let (id, orgID, handle, name, role, active, csrf) =
            try row.decode((Int64, Int64, String, String, String, Bool, String).self)
        return Session(user: User(id: id, orgID: orgID, handle: handle, name: name, role: Role(rawValue: role) ?? .texter,
                                  active: active), csrfToken: csrf)
    }

    /// Ends the session: its cookie no longer works anywhere.
    public func signOut(token: String) async throws {
        try await database.query("DELETE FROM web_sessions WHERE token_hash = \(Directory.hash(token))")
    }

    /// Whether a token from a cookie or a link is worth looking up: `minimum` to 200 bytes, no NUL.
    static func plausible(_ token: String, minimum: Int) -> Bool {
        (minimum...200).contains(token.utf8.count) && !token.unicodeScalars.contains("\0")
    }

        /// `bytes` random bytes as hex: session tokens, CSRF tokens, one-time form keys.
    public static func randomToken(bytes: Int = 32) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// A hash of no one's password, for the time an unknown handle's check takes.
    static let decoy = Bcrypt.hash("no such user's password", cost: defaultCost)

    /// bcrypt takes a quarter of a second of CPU: run it off the cooperative pool.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive { work() }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
