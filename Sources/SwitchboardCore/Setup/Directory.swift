import Crypto
import Foundation
import PostgresNIO

/// Organizations, users and API tokens.
public struct Directory: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public func createOrganization(name: String) async throws -> Organization {
        let name = name.trimmingCharacters(in: .whitespaces)
        try Text.check(name, field: "organization name")
        guard (1...200).contains(Text.length(name)) else {
            throw SwitchboardError.invalid("invalid_name", "Organization name '\(name)' must be 1 to 200 characters.")
        }
        guard Int64(name) == nil else {
            throw SwitchboardError.invalid("invalid_name", "Organization name '\(name)' must not be a number, since numbers name organizations by id.")
        }
        let rows = try await database.query(
            "INSERT INTO organizations (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING RETURNING id")
        guard let row = rows.first else {
            throw SwitchboardError.conflict("duplicate_organization", "An organization named '\(name)' already exists.")
        }
        return Organization(id: try row.decode(Int64.self), name: name)
    }

    /// An organization by id or by name.
    public func organization(_ reference: String) async throws -> Organization {
        let rows: [PostgresRow]
        if let id = Int64(reference) {
            rows = try await database.query("SELECT id, name FROM organizations WHERE id = \(id)")
        } else {
            rows = try await database.query("SELECT id, name FROM organizations WHERE name = \(reference)")
        }
        guard let row = rows.first else {
            throw SwitchboardError.notFound("unknown_organization", "Organization '\(reference)' does not exist.")
        }
        let (id, name) = try row.decode((Int64, String).self)
        return Organization(id: id, name: name)
    }

    public func organization(id: Int64) async throws -> Organization {
        try await organization(String(id))
    }

    public static func validate(handle: String) throws(SwitchboardError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        guard (1...64).contains(handle.count), handle.allSatisfy({ allowed.contains($0) }) else {
            throw .invalid("invalid_handle",
                           "Handle '\(handle)' is invalid; use 1 to 64 of a-z, 0-9, '.', '_' and '-'.")
        }
    }

    public func addUser(orgID: Int64, handle: String, name: String? = nil, role: Role = .texter) async throws -> User {
        try Self.validate(handle: handle)
        let displayName = name ?? handle
        try Text.check(displayName, field: "display name", maximum: 200)
        let rows = try await database.query("""
            INSERT INTO users (org_id, handle, name, role) VALUES (\(orgID), \(handle), \(displayName), \(role.rawValue))
            ON CONFLICT (org_id, handle) DO NOTHING
            RETURNING id
            """)
        guard let row = rows.first else {
            throw SwitchboardError.conflict("duplicate_handle", "A user with handle '\(handle)' already exists in this organization.")
        }
        return User(id: try row.decode(Int64.self), orgID: orgID, handle: handle, name: displayName, role: role,
                    active: true)
    }

    public func user(orgID: Int64, handle: String) async throws -> User {
        let rows = try await database.query("""
            SELECT id, org_id, handle, name, role, active FROM users WHERE org_id = \(orgID) AND handle = \(handle)
            """)
        guard let row = rows.first else {
            throw SwitchboardError.notFound("unknown_user", "User '\(handle)' does not exist in this organization.")
        }
        return try Self.user(from: row)
    }

    static func user(from row: PostgresRow) throws -> User {
        let (id, orgID, handle, name, role, active) = try row.decode((Int64, Int64, String, String, String, Bool).self)
        return User(id: id, orgID: orgID, handle: handle, name: name, role: Role(rawValue: role) ?? .texter,
                    active: active)
    }

    /// Creates a bearer token for a user; the token itself is returned once and only its hash is stored. With
    /// `expiresIn` (seconds) it stops working after that long; without, it works until revoked.
    public func createToken(orgID: Int64, handle: String, expiresIn: Int? = nil) async throws -> String {
        let user = try await user(orgID: orgID, handle: handle)
        guard user.active else {
            throw SwitchboardError.refused("user_deactivated", "User '\(handle)' is deactivated; activate them first.")
        }
        let token = "sb_" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        try await database.query("""
            INSERT INTO api_tokens (org_id, user_id, token_hash, expires_at)
            VALUES (\(orgID), \(user.id), \(Self.hash(token)),
                    now() + make_interval(secs => \(expiresIn.map(Double.init))))
            """)
        return token
    }

    /// Revokes a token; afterwards it authenticates nobody.
    public func revokeToken(_ token: String) async throws {
        let rows = try await database.query("""
            UPDATE api_tokens SET revoked_at = now() WHERE token_hash = \(Self.hash(token)) AND revoked_at IS NULL
            RETURNING id
            """)
        guard !rows.isEmpty else {
            throw SwitchboardError.notFound("unknown_token", "That token does not exist or is already revoked.")
        }
    }

    /// The active user a token belongs to, or nil. The lookup is by SHA-256, so no comparison on the secret
    /// itself leaks timing.
    public func authenticate(token: String) async throws -> User? {
        let rows = try await database.query("""
            SELECT u.id, u.org_id, u.handle, u.name, u.role, u.active
            FROM api_tokens t JOIN users u ON u.org_id = t.org_id AND u.id = t.user_id
            WHERE t.token_hash = \(Self.hash(token)) AND t.revoked_at IS NULL AND u.active
              AND (t.expires_at IS NULL OR t.expires_at > now())
            """)
        return try rows.first.map(Self.user(from:))
    }

    static func hash(_ token: String) -> ByteBuffer {
        ByteBuffer(bytes: Array(SHA256.hash(data: Data(token.utf8))))
    }
}

extension Directory {
    /// A user of the organization with what the admin page shows: whether they can sign in, and their live API
    /// tokens.
    public struct Member: Sendable {
        public let user: User
        public let hasPassword: Bool
        public let liveTokens: Int
        /// Their requests are granted at once where requests wait for approval.
        public var autoApprove = false
    }

    /// The organization's users, by handle.
    public func members(orgID: Int64, limit: Int = 500) async throws -> [Member] {
        try await database.query("""
            SELECT u.id, u.org_id, u.handle, u.name, u.role, u.active, u.password_hash IS NOT NULL,
                   (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL)::int,
                   u.auto_approve
            FROM users u WHERE u.org_id = \(orgID) ORDER BY u.handle COLLATE "C" LIMIT \(limit)
            """).map { row in
            let (id, org, handle, name, role, active, hasPassword, tokens, autoApprove) =
                try row.decode((Int64, Int64, String, String, String, Bool, Bool, Int, Bool).self)
            return Member(user: User(id: id, orgID: org, handle: handle, name: name, role: Role(rawValue: role) ?? .texter,
                                     active: active),
                          hasPassword: hasPassword, liveTokens: tokens, autoApprove: autoApprove)
        }
    }

    /// Deactivates a user: they can no longer sign in or use a token (their tokens are revoked and their sessions
    /// end, at once), and they are taken off duty on every campaign, so they receive and request nothing more.
    /// What they did stays in history, and what they hold stays theirs until an organizer moves it. Returns the
    /// user as they are now.
    public func deactivate(orgID: Int64, handle: String) async throws -> User {
        let user = try await user(orgID: orgID, handle: handle)
        try await database.transaction { connection in
            try await connection.query("UPDATE users SET active = false WHERE id = \(user.id)", logger: database.logger)
            try await connection.query("""
                UPDATE campaign_senders SET active = false WHERE user_id = \(user.id) AND active
                """, logger: database.logger)
            try await connection.query("""
                UPDATE api_tokens SET revoked_at = now() WHERE user_id = \(user.id) AND revoked_at IS NULL
                """, logger: database.logger)
            try await ConsoleAuth.endSessions(of: user.id, on: connection, logger: database.logger)
        }
        return try await self.user(orgID: orgID, handle: handle)
    }

    /// Lets a deactivated user sign in again (with a new password link or token: the old ones stay revoked); an
    /// organizer puts them back on the campaigns they should send for.
    public func activate(orgID: Int64, handle: String) async throws -> User {
        let user = try await user(orgID: orgID, handle: handle)
        try await database.query("UPDATE users SET active = true WHERE id = \(user.id)")
        return try await self.user(orgID: orgID, handle: handle)
    }

    /// Revokes every live API token of `handle`; returns how many.
    public func revokeTokens(orgID: Int64, handle: String) async throws -> Int {
        let user = try await user(orgID: orgID, handle: handle)
        return try await database.query("""
            UPDATE api_tokens SET revoked_at = now() WHERE user_id = \(user.id) AND revoked_at IS NULL RETURNING id
            """).count
    }
}
