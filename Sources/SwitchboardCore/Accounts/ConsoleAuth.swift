import Crypto
import Foundation
import HummingbirdBcrypt
import Logging
import NIOConcurrencyHelpers
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
    /// Sessions end this long after sign-in, however active.
    public static let absoluteLifetime: TimeInterval = 7 * 24 * 60 * 60
    /// After this many failed sign-ins for one handle, each try must wait: 1 second after the fifth failure,
    /// doubling with each further one, up to `longestPause`.
    public static let failuresBeforePause = 5
    public static let longestPause = 300
    /// bcrypt's cost: 2^11 rounds, about a quarter of a second on this kind of machine (release build).
    public static let defaultCost: UInt8 = 11

    /// A signed-in session: who, and the CSRF token its forms carry.
    public struct Session: Sendable {
        public let user: User
        public let csrfToken: String
    }

    /// Sets `handle`'s password (at least 8 characters). The user's sessions end and their unused set-password
    /// links stop working: whoever knew the old password, or holds an old link, is out.
    public func setPassword(orgID: Int64, handle: String, password: String) async throws {
        let hash = try await hash(password: password)
        let user = try await Directory(database).user(orgID: orgID, handle: handle)
        try await database.transaction { connection in
            try await connection.query("UPDATE users SET password_hash = \(hash) WHERE id = \(user.id)",
                                       logger: database.logger)
            try await Self.endSessions(of: user.id, on: connection, logger: database.logger)
        }
    }

    /// Ends every session of a user and uses up their unused set-password links.
    static func endSessions(of userID: Int64, except token: String? = nil, on connection: PostgresConnection,
                            logger: Logger) async throws {
        try await connection.query("""
            DELETE FROM web_sessions
            WHERE user_id = \(userID) AND (\(token.map(Directory.hash))::bytea IS NULL OR token_hash <> \(token.map(Directory.hash)))
            """, logger: logger)
        try await connection.query("""
            UPDATE password_links SET used_at = now() WHERE user_id = \(userID) AND used_at IS NULL
            """, logger: logger)
    }

    /// Signs in with a handle (in `organization`, a name or id, when given) and a password, and returns the new
    /// session's token. The refusal never says whether the handle exists.
    ///
    /// Each try is counted as a failure before the password is checked, in one statement that also refuses it
    /// while the handle must wait (`throttled`, with the seconds left): concurrent tries cannot all slip past the
    /// count. A success clears the count.
    public func signIn(organization: String?, handle: String, password: String) async throws -> (token: String, session: Session) {
        try Text.check(handle, field: "handle", maximum: 64)
        try Text.check(password, field: "password", maximum: 200)
        try Text.check(organization ?? "", field: "organization", maximum: 200)
        let refused = SwitchboardError(.unauthorized, "sign_in_failed", "The handle or password is not right.")
        try await countTry(handle: handle)
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
            if matched.count > 1 {
                throw SwitchboardError(.invalid, "organization_needed",
                                       "Handle '\(handle)' is in several organizations; name yours.")
            }
            throw refused
        }
        try await database.query("DELETE FROM sign_in_failures WHERE handle = \(handle)")
        return try await openSession(for: user)
    }

    /// Counts a sign-in try for `handle` as a failure, or refuses it while the handle must wait.
    private func countTry(handle: String) async throws {
        let pause = """
            make_interval(secs => least(\(Self.longestPause), power(2, greatest(f.failures - \(Self.failuresBeforePause), 0))))
            """
        let counted = try await database.query("""
            INSERT INTO sign_in_failures AS f (handle, failures, last_failure_at) VALUES (\(handle), 1, now())
            ON CONFLICT (handle) DO UPDATE SET failures = f.failures + 1, last_failure_at = now()
            WHERE f.failures < \(Self.failuresBeforePause) OR f.last_failure_at <= now() - \(unescaped: pause)
            RETURNING failures
            """)
        guard counted.isEmpty else { return }
        let wait = try await database.query("""
            SELECT ceil(extract(epoch FROM f.last_failure_at + \(unescaped: pause) - now()))::int
            FROM sign_in_failures f WHERE f.handle = \(handle)
            """).first?.decode(Int?.self) ?? 1
        let seconds = max(1, wait ?? 1)
        throw SwitchboardError(.throttled, "slow_down",
                               "Too many failed sign-ins for this handle; wait \(seconds == 1 ? "a second" : "\(seconds) seconds") and try again.",
                               retryAfter: seconds)
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
                   OR created_at < now() - make_interval(secs => \(Self.absoluteLifetime))
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
                  AND s.created_at > now() - make_interval(secs => \(Self.absoluteLifetime))
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

    /// bcrypt takes a quarter of a second of CPU: it runs off the cooperative pool, on NIO's thread pool (one
    /// thread a core, so at most that many at once), admitted by `gate` (see `HashGate`).
    static func offload<T: Sendable>(gate: HashGate = .shared, _ work: @escaping @Sendable () -> T) async throws -> T {
        try await gate.admit { try await NIOThreadPool.singleton.runIfActive { work() } }
    }

    /// Compares a given secret (a CSRF token, a metrics token) with the expected one in time that does not depend
    /// on where they differ, nor on their lengths (it compares their SHA-256 digests). Nil never matches.
    public static func sameSecret(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        let x = SHA256.hash(data: Data(given.utf8)), y = SHA256.hash(data: Data(expected.utf8))
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// How many password hashes may wait or run at once: beyond `backlog`, a caller is refused at once (`throttled`,
/// "busy"), so a flood of anonymous sign-up or sign-in posts costs a bounded amount of CPU and memory.
public final class HashGate: Sendable {
    public let backlog: Int
    private let inFlight = NIOLockedValueBox(0)

    public init(backlog: Int) { self.backlog = backlog }

    /// The process's gate: 32 a core, about 8 seconds of hashing at cost 11.
    public static let shared = HashGate(backlog: 32 * max(2, ProcessInfo.processInfo.activeProcessorCount))

    func admit<T: Sendable>(_ work: () async throws -> T) async throws -> T {
        guard inFlight.withLockedValue({ count in
            guard count < backlog else { return false }
            count += 1
            return true
        }) else {
            throw SwitchboardError(.throttled, "busy", "The server is busy checking passwords; try again in a second.",
                                   retryAfter: 1)
        }
        defer { inFlight.withLockedValue { $0 -= 1 } }
        return try await work()
    }
}
