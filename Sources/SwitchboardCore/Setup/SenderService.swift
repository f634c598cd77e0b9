import Foundation
import Logging
import PostgresNIO

/// A campaign's sender list: who may receive its conversations, and how many each holds.
public struct SenderService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    /// Puts users of the campaign's organization on its sender list (reactivating any that were deactivated).
    /// All handles must exist, or nothing is added.
    public func add(campaignID: Int64, handles: [String]) async throws {
        guard !handles.isEmpty else {
            throw SwitchboardError.invalid("missing_handles", "Name at least one user to add as a sender.")
        }
        for handle in handles { try Directory.validate(handle: handle) }
        let campaign = try await CampaignService(database).campaign(id: campaignID)
        try await database.transaction { connection in
            let rows = try await connection.rows("""
                SELECT h.handle FROM unnest(\(handles)::text[]) AS h(handle)
                LEFT JOIN users u ON u.org_id = \(campaign.orgID) AND u.handle = h.handle
                WHERE u.id IS NULL
                """, logger: database.logger)
            if let missing = rows.first {
                let handle = try missing.decode(String.self)
                throw SwitchboardError.notFound("unknown_user",
                                                "User '\(handle)' does not exist in the campaign's organization.")
            }
            try await TeamService.checkAdmitted(handles, campaign: campaign, on: connection, logger: database.logger)
            try await connection.query("""
                INSERT INTO campaign_senders (campaign_id, org_id, user_id)
                SELECT \(campaignID), u.org_id, u.id FROM users u
                WHERE u.org_id = \(campaign.orgID) AND u.handle = ANY(\(handles)::text[])
                ON CONFLICT (campaign_id, user_id) DO UPDATE SET active = true
                """, logger: database.logger)
        }
    }

    /// Takes a sender off duty: they keep their conversations (an organizer moves them with the batch operations)
    /// but can no longer receive or request any.
    public func deactivate(campaignID: Int64, handle: String) async throws {
        let sender = try await self.sender(campaignID: campaignID, handle: handle)
        try await database.query("""
            UPDATE campaign_senders SET active = false WHERE campaign_id = \(campaignID) AND user_id = \(sender.userID)
            """)
    }

    struct SenderRef {
        let userID: Int64
        let active: Bool
    }

    /// A sender of the campaign by handle; a user who exists but is not on this campaign's list is named as such.
    func sender(campaignID: Int64, handle: String) async throws -> SenderRef {
        try await Self.sender(campaignID: campaignID, handle: handle, on: database)
    }

    static func sender(campaignID: Int64, handle: String, on database: Database) async throws -> SenderRef {
        try Directory.validate(handle: handle)
        let rows = try await database.query("""
            SELECT u.id, s.active FROM campaigns c
            JOIN users u ON u.org_id = c.org_id AND u.handle = \(handle)
            LEFT JOIN campaign_senders s ON s.campaign_id = c.id AND s.user_id = u.id
            WHERE c.id = \(campaignID)
            """)
        guard let row = rows.first else {
            _ = try await CampaignService(database).campaign(id: campaignID)
            throw SwitchboardError.notFound("unknown_sender", "User '\(handle)' does not exist in the campaign's organization.")
        }
        let (userID, active) = try row.decode((Int64, Bool?).self)
        guard let active else {
            throw SwitchboardError.notFound("not_a_sender", "User '\(handle)' is not a sender of campaign \(campaignID).")
        }
        return SenderRef(userID: userID, active: active)
    }

    /// The sender list with per-status counts and the unassigned row. Reads maintained counts, so its cost
    /// depends on the number of senders, not of conversations.
    public func list(campaignID: Int64) async throws -> SenderList {
        _ = try await CampaignService(database).campaign(id: campaignID)
        let senders = try await database.query("""
            SELECT u.id, u.handle, u.name, s.active, s.last_active_at, s.available, k.skills,
                   floor(extract(epoch FROM now() - w.oldest))::bigint
            FROM campaign_senders s
            JOIN users u ON u.org_id = s.org_id AND u.id = s.user_id
            LEFT JOIN (
                SELECT user_id, string_agg(skill, ',' ORDER BY skill COLLATE "C") AS skills FROM sender_skills
                WHERE campaign_id = \(campaignID) GROUP BY user_id
            ) k ON k.user_id = s.user_id
            LEFT JOIN LATERAL (
                SELECT min(c.last_message_at) AS oldest FROM conversations c
                WHERE c.campaign_id = s.campaign_id AND c.assignee_id = s.user_id AND c.status = 'needs_reply'
            ) w ON true
            WHERE s.campaign_id = \(campaignID)
            ORDER BY u.handle COLLATE "C"
            """)
        let counts = try await ConversationCounts(database).counts(campaignID: campaignID)
        var list: [SenderCounts] = []
        for row in senders {
            // Skills come joined by commas (a skill has none): most senders have none, and decoding a thousand
            // empty arrays cost more than the rest of the row.
            let (id, handle, name, active, lastActive, available, skills, waiting) =
                try row.decode((Int64, String, String, Bool, Date?, Bool, String?, Int64?).self)
            list.append(SenderCounts(handle: handle, name: name, active: active, available: available,
                                     skills: skills.map { $0.split(separator: ",").map(String.init) } ?? [],
                                     counts: counts.bySender[id] ?? .init(), lastActiveAt: lastActive,
                                     oldestNeedsReplySeconds: waiting.map { Int(max(0, $0)) }))
        }
        return SenderList(campaignID: campaignID, senders: list, unassigned: counts.unassigned)
    }

    /// Whether user `userID` is an active sender of the campaign: only those act as its texters.
    public func isActiveSender(campaignID: Int64, userID: Int64) async throws -> Bool {
        let rows = try await database.query("""
            SELECT active FROM campaign_senders WHERE campaign_id = \(campaignID) AND user_id = \(userID)
            """)
        return try rows.first?.decode(Bool.self) ?? false
    }
}

extension SenderService {
    /// Marks the sender active now (they sent, closed, requested or released), in the caller's transaction.
    static func touch(campaignID: Int64, userID: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE campaign_senders SET last_active_at = now() WHERE campaign_id = \(campaignID) AND user_id = \(userID)
            """, logger: logger)
    }

    /// Users of the campaign's organization who are not on its sender list and match `search` (a fragment of
    /// handle or name), by handle.
    public func candidates(campaignID: Int64, orgID: Int64, search: String?, limit: Int = 50) async throws -> [User] {
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        let fragment = search?.trimmingCharacters(in: .whitespaces).lowercased().nilIfEmpty
        if let fragment { try Text.check(fragment, field: "search", maximum: 200) }
        return try await database.query("""
            SELECT u.id, u.org_id, u.handle, u.name, u.role, u.active FROM users u
            WHERE u.org_id = \(campaign.orgID) AND u.active
              AND NOT EXISTS (SELECT 1 FROM campaign_senders s WHERE s.campaign_id = \(campaign.id) AND s.user_id = u.id)
              AND (\(fragment)::text IS NULL OR strpos(u.handle, \(fragment)) > 0 OR strpos(lower(u.name), \(fragment)) > 0)
            ORDER BY u.handle COLLATE "C" LIMIT \(limit)
            """).map(Directory.user(from:))
    }
}
