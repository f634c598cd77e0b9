import Foundation
import PostgresNIO

// Every noun an admin manages can be listed (issue 34): organizations, users, campaigns, tokens; senders and
// invite links have their own services.

extension Directory {
    /// Every organization, by name: the operator's view (over the API one sees only one's own).
    public func organizations() async throws -> [Organization] {
        try await database.query("SELECT id, name FROM organizations ORDER BY name COLLATE \"C\"").map { row in
            let (id, name) = try row.decode((Int64, String).self)
            return Organization(id: id, name: name)
        }
    }

    /// An API token as a list shows it: whose, and when; never its secret (only its hash is kept).
    public struct TokenInfo: Sendable, Equatable, Codable {
        public let id: Int64
        public let user: String
        public let createdAt: Date
        public let expiresAt: Date?
        public let revokedAt: Date?
        /// Not revoked, and not past its expiry.
        public let live: Bool

        enum CodingKeys: String, CodingKey {
            case id, user, createdAt = "created_at", expiresAt = "expires_at", revokedAt = "revoked_at", live
        }

        /// Absent times are written as null, as the spec says: a reader sees "never expires", not a missing key.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(user, forKey: .user)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(expiresAt, forKey: .expiresAt)
            try container.encode(revokedAt, forKey: .revokedAt)
            try container.encode(live, forKey: .live)
        }
    }

    /// The organization's API tokens, newest first; with `handle`, only that user's.
    public func tokens(orgID: Int64, handle: String? = nil) async throws -> [TokenInfo] {
        if let handle { _ = try await user(orgID: orgID, handle: handle) }
        return try await database.query("""
            SELECT t.id, u.handle, t.created_at, t.expires_at, t.revoked_at,
                   t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
            FROM api_tokens t JOIN users u ON u.org_id = t.org_id AND u.id = t.user_id
            WHERE t.org_id = \(orgID) AND (\(handle)::text IS NULL OR u.handle = \(handle))
            ORDER BY t.id DESC LIMIT 1000
            """).map { row in
            let (id, user, created, expires, revoked, live) = try row.decode((Int64, String, Date, Date?, Date?, Bool).self)
            return TokenInfo(id: id, user: user, createdAt: created, expiresAt: expires, revokedAt: revoked, live: live)
        }
    }

    /// Changes a user's display name or role (nil leaves it as it is), and returns the user as they are now.
    public func update(orgID: Int64, handle: String, name: String? = nil, role: Role? = nil,
                       autoApprove: Bool? = nil) async throws -> User {
        let current = try await user(orgID: orgID, handle: handle)
        guard name != nil || role != nil || autoApprove != nil else {
            throw SwitchboardError.invalid("nothing_to_change",
                                           "Give --name, --role or --auto-approve to change user '\(handle)'.")
        }
        let displayName = name?.trimmingCharacters(in: .whitespacesAndNewlines) ?? current.name
        try Text.check(displayName, field: "display name", maximum: 200)
        guard !displayName.isEmpty else {
            throw SwitchboardError.invalid("invalid_name", "The display name of '\(handle)' cannot be empty.")
        }
        let rows = try await database.query("""
            UPDATE users SET name = \(displayName), role = \((role ?? current.role).rawValue),
                auto_approve = coalesce(\(autoApprove), auto_approve)
            WHERE org_id = \(orgID) AND id = \(current.id)
            RETURNING id, org_id, handle, name, role, active
            """)
        return try Self.user(from: rows[0])
    }
}

extension CampaignService {
    /// The organization's campaigns, oldest first; with `senderID`, only those that user is an active sender of
    /// (what a texter may see).
    public func list(orgID: Int64, senderID: Int64? = nil) async throws -> [Campaign] {
        try await database.query("""
            SELECT \(unescaped: Self.columns) FROM campaigns
            WHERE campaigns.org_id = \(orgID)
              AND (\(senderID)::bigint IS NULL OR EXISTS (
                  SELECT 1 FROM campaign_senders s
                  WHERE s.campaign_id = campaigns.id AND s.user_id = \(senderID) AND s.active))
            ORDER BY campaigns.id LIMIT 1000
            """).map(Self.campaign(from:))
    }
}
