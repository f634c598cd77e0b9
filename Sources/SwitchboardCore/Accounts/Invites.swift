import Foundation
import PostgresNIO

/// Campaign invite links: an organizer makes one, volunteers open it, sign up (or, signed in already, simply
/// join) and become senders of the campaign; with self-assign on, each gets a first batch at once.
public struct InviteService: Sendable {
    let database: Database
    let auth: ConsoleAuth

    /// `cost` is bcrypt's, for the passwords of people who sign up (tests use 4).
    public init(_ database: Database, cost: UInt8 = ConsoleAuth.defaultCost) {
        self.database = database
        self.auth = ConsoleAuth(database, cost: cost)
    }

    public static let defaultDays = 14
    public static let dayRange = 1...365

    public struct Invite: Sendable, Equatable {
        public let id: Int64
        public let campaignID: Int64
        public let createdBy: String
        public let createdAt: Date
        public let expiresAt: Date
        public let revokedAt: Date?
        /// How many people joined the campaign through it.
        public let joined: Int

        public var isLive: Bool { revokedAt == nil && expiresAt > Date() }
    }

    /// A new invite link's token (shown once; only its hash is kept), valid for `days` days.
    public func create(campaignID: Int64, orgID: Int64? = nil, days: Int = defaultDays, actor: String) async throws
        -> (invite: Invite, token: String)
    {
        guard Self.dayRange.contains(days) else {
            throw SwitchboardError.invalid("invalid_expiry", "Expiry \(days) days is out of range; it must be from 1 to 365 days.")
        }
        try Text.check(actor, field: "actor", maximum: 200)
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        let token = "inv_" + ConsoleAuth.randomToken(bytes: 24)
        let rows = try await database.query("""
            INSERT INTO campaign_invites (org_id, campaign_id, token_hash, created_by, expires_at)
            VALUES (\(campaign.orgID), \(campaign.id), \(Directory.hash(token)), \(actor),
                    now() + make_interval(days => \(Int32(days))))
            RETURNING id, campaign_id, created_by, created_at, expires_at, revoked_at, 0
            """)
        return (try Self.invite(from: rows[0]), token)
    }

    /// The campaign's invite links, newest first.
    public func list(campaignID: Int64, orgID: Int64? = nil) async throws -> [Invite] {
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        return try await database.query("""
            SELECT i.id, i.campaign_id, i.created_by, i.created_at, i.expires_at, i.revoked_at,
                   (SELECT count(*) FROM campaign_senders s WHERE s.invite_id = i.id)::int
            FROM campaign_invites i WHERE i.campaign_id = \(campaign.id) ORDER BY i.id DESC LIMIT 100
            """).map(Self.invite(from:))
    }

    /// Revokes an invite link: from now on it creates nothing. Joins already under way finish first.
    public func revoke(id: Int64, orgID: Int64? = nil) async throws -> Invite {
        let rows = try await database.query("""
            UPDATE campaign_invites SET revoked_at = coalesce(revoked_at, now())
            WHERE id = \(id) AND (\(orgID)::bigint IS NULL OR org_id = \(orgID))
            RETURNING id, campaign_id, created_by, created_at, expires_at, revoked_at,
                      (SELECT count(*) FROM campaign_senders s WHERE s.invite_id = \(id))::int
            """)
        guard let row = rows.first else {
            throw SwitchboardError.notFound("unknown_invite", "Invite \(id) does not exist.")
        }
        return try Self.invite(from: row)
    }

    /// The campaign a live invite token opens, or `invite_invalid` (the same refusal for a forged, revoked or
    /// expired link, so that a page cannot be used to tell them apart).
    public func campaign(token: String) async throws -> Campaign {
        guard let id = try await live(token: token, on: nil) else { throw Self.invalid }
        return try await CampaignService(database).campaign(id: id.campaignID)
    }

    static let invalid = SwitchboardError.notFound(
        "invite_invalid", "This invite link is not valid: it may have expired or been revoked. Ask the organizer for a new one.")

    /// What joining gave: the user, their campaign, and the first batch (or why there was none).
    public struct Joined: Sendable {
        public let user: User
        public let campaign: Campaign
        public let grant: SelfAssignService.Grant?
        /// Why no first batch came although self-assign is on (pool empty, cap reached…).
        public let refusal: SwitchboardError?
    }

    /// A new person signs up through the link: a texter of the campaign's organization with this handle, name and
    /// password, on the campaign's sender list. Nothing is created unless all of it is.
    public func signUp(token: String, handle: String, name: String, password: String) async throws -> Joined {
        try Directory.validate(handle: handle)
        let displayName = name.trimmingCharacters(in: .whitespacesAndNewlines)
        try Text.check(displayName, field: "display name", maximum: 200)
        guard !displayName.isEmpty else {
            throw SwitchboardError.invalid("invalid_name", "Give a display name (what organizers see beside your handle).")
        }
        // The link first: an anonymous post with a forged or dead token costs a lookup, not a bcrypt hash.
        guard try await live(token: token, on: nil) != nil else { throw Self.invalid }
        let hash = try await auth.hash(password: password)
        let (user, campaign) = try await database.transaction { connection in
            guard let invite = try await live(token: token, on: connection) else { throw Self.invalid }
            let rows = try await connection.rows("""
                INSERT INTO users (org_id, handle, name, role, password_hash)
                VALUES (\(invite.orgID), \(handle), \(displayName), 'texter', \(hash))
                ON CONFLICT (org_id, handle) DO NOTHING
                RETURNING id
                """, logger: database.logger)
            guard let row = rows.first else {
                throw SwitchboardError.conflict("duplicate_handle",
                                                "A user with handle '\(handle)' already exists in this organization.")
            }
            let user = User(id: try row.decode(Int64.self), orgID: invite.orgID, handle: handle, name: displayName,
                            role: .texter, active: true)
            try await enlist(user, invite: invite, on: connection)
            return (user, invite.campaignID)
        }
        return try await firstBatch(for: user, campaignID: campaign)
    }

    /// A signed-in person opens the link: they join the campaign as a sender (a deactivated sender stays
    /// deactivated: the organizer took them off, a link does not undo that).
    public func join(token: String, user: User) async throws -> Joined {
        let campaign = try await database.transaction { connection in
            guard let invite = try await live(token: token, on: connection) else { throw Self.invalid }
            guard invite.orgID == user.orgID else {
                throw SwitchboardError(.forbidden, "other_organization",
                                       "This invite is for another organization's campaign; sign out to sign up there.")
            }
            try await enlist(user, invite: invite, on: connection)
            return invite.campaignID
        }
        return try await firstBatch(for: user, campaignID: campaign)
    }

    private struct Live {
        let id: Int64
        let orgID: Int64
        let campaignID: Int64
    }

    /// The live invite a token names; in a transaction, its row is held FOR SHARE until the join commits.
    private func live(token: String, on connection: PostgresConnection?) async throws -> Live? {
        guard ConsoleAuth.plausible(token, minimum: 8) else { return nil }
        let query: PostgresQuery = """
            SELECT id, org_id, campaign_id FROM campaign_invites
            WHERE token_hash = \(Directory.hash(token)) AND revoked_at IS NULL AND expires_at > now()
            FOR SHARE
            """
        let rows = if let connection { try await connection.rows(query, logger: database.logger) }
            else { try await database.query(query) }
        guard let row = rows.first else { return nil }
        let (id, orgID, campaignID) = try row.decode((Int64, Int64, Int64).self)
        return Live(id: id, orgID: orgID, campaignID: campaignID)
    }

    private func enlist(_ user: User, invite: Live, on connection: PostgresConnection) async throws {
        // A campaign limited to teams takes only their members (one already on the list keeps their place).
        let admitted = try await connection.rows("""
            SELECT switchboard_team_admits(\(invite.campaignID), \(user.id)) OR EXISTS (
                SELECT 1 FROM campaign_senders s WHERE s.campaign_id = \(invite.campaignID) AND s.user_id = \(user.id))
            """, logger: database.logger)[0].decode(Bool.self)
        guard admitted else {
            throw SwitchboardError(.forbidden, "not_in_team",
                                   "Campaign \(invite.campaignID) is limited to teams '\(user.handle)' is not in; ask an organizer to add you to one.")
        }
        try await connection.query("""
            INSERT INTO campaign_senders (campaign_id, org_id, user_id, invite_id)
            VALUES (\(invite.campaignID), \(invite.orgID), \(user.id), \(invite.id))
            ON CONFLICT (campaign_id, user_id) DO NOTHING
            """, logger: database.logger)
    }

    /// With self-assign on, the first batch, as Request Conversations would give it.
    private func firstBatch(for user: User, campaignID: Int64) async throws -> Joined {
        let campaign = try await CampaignService(database).campaign(id: campaignID)
        guard campaign.settings.selfAssign else { return Joined(user: user, campaign: campaign, grant: nil, refusal: nil) }
        do {
            let grant = try await SelfAssignService(database).requestMore(campaignID: campaign.id, sender: user.handle)
            return Joined(user: user, campaign: campaign, grant: grant, refusal: nil)
        } catch let error as SwitchboardError where error.kind == .refused {
            return Joined(user: user, campaign: campaign, grant: nil, refusal: error)
        }
    }

    static func invite(from row: PostgresRow) throws -> Invite {
        let (id, campaignID, createdBy, createdAt, expiresAt, revokedAt, joined) =
            try row.decode((Int64, Int64, String, Date, Date, Date?, Int).self)
        return Invite(id: id, campaignID: campaignID, createdBy: createdBy, createdAt: createdAt, expiresAt: expiresAt,
                      revokedAt: revokedAt, joined: joined)
    }
}

extension ConsoleAuth {
    /// How long a set-password link works.
    public static let passwordLinkLifetime: TimeInterval = 24 * 60 * 60

    /// A one-time link token with which `handle` sets a new password (an admin's reset, or a first password).
    /// Earlier unused links of that user stop working.
    public func passwordLink(orgID: Int64, handle: String, actor: String) async throws -> String {
        let user = try await Directory(database).user(orgID: orgID, handle: handle)
        let token = "pw_" + Self.randomToken(bytes: 24)
        try await database.transaction { connection in
            try await connection.query("""
                UPDATE password_links SET used_at = now() WHERE user_id = \(user.id) AND used_at IS NULL
                """, logger: database.logger)
            try await connection.query("""
                INSERT INTO password_links (token_hash, org_id, user_id, created_by, expires_at)
                VALUES (\(Directory.hash(token)), \(orgID), \(user.id), \(actor),
                        now() + make_interval(secs => \(Self.passwordLinkLifetime)))
                """, logger: database.logger)
        }
        return token
    }

    /// The user a live set-password link is for, or nil.
    public func passwordLinkUser(token: String) async throws -> User? {
        guard ConsoleAuth.plausible(token, minimum: 8) else { return nil }
        let rows = try await database.query("""
            SELECT u.id, u.org_id, u.handle, u.name, u.role, u.active FROM password_links l
            JOIN users u ON u.org_id = l.org_id AND u.id = l.user_id
            WHERE l.token_hash = \(Directory.hash(token)) AND l.used_at IS NULL AND l.expires_at > now() AND u.active
            """)
        return try rows.first.map(Directory.user(from:))
    }

    /// Sets the password through a link, once: the link is used up, so are the user's other links, the user's
    /// other sessions end, and a new session starts. The link is looked up before the password is hashed, so a
    /// forged link costs no bcrypt.
    public func usePasswordLink(token: String, password: String) async throws -> (token: String, session: Session) {
        let refused = SwitchboardError.notFound(
            "link_invalid", "This set-password link is not valid: it may have been used or have expired. Ask an admin for a new one.")
        guard try await passwordLinkUser(token: token) != nil else { throw refused }
        let hash = try await hash(password: password)
        let user = try await database.transaction { connection in
            let rows = try await connection.rows("""
                UPDATE password_links l SET used_at = now() FROM users u
                WHERE l.token_hash = \(Directory.hash(token)) AND l.used_at IS NULL AND l.expires_at > now()
                  AND u.org_id = l.org_id AND u.id = l.user_id AND u.active
                RETURNING u.id, u.org_id, u.handle, u.name, u.role, u.active
                """, logger: database.logger)
            guard let row = rows.first else { throw refused }
            let user = try Directory.user(from: row)
            try await connection.query("UPDATE users SET password_hash = \(hash) WHERE id = \(user.id)",
                                       logger: database.logger)
            try await Self.endSessions(of: user.id, on: connection, logger: database.logger)
            return user
        }
        return try await openSession(for: user)
    }
}
