import Foundation
import PostgresNIO

/// Campaigns and their self-assign settings.
public struct CampaignService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public func create(orgID: Int64, name: String, settings: SelfAssignSettings = .init()) async throws -> Campaign {
        let name = name.trimmingCharacters(in: .whitespaces)
        try Text.check(name, field: "campaign name")
        guard (1...200).contains(Text.length(name)) else {
            throw SwitchboardError.invalid("invalid_name", "Campaign name '\(name)' must be 1 to 200 characters.")
        }
        try settings.validate()
        let rows = try await database.query("""
            INSERT INTO campaigns (org_id, name, self_assign, batch_size, max_open, require_finished_batch)
            VALUES (\(orgID), \(name), \(settings.selfAssign), \(settings.batchSize), \(settings.maxOpen),
                    \(settings.requireFinishedBatch))
            RETURNING \(unescaped: Self.columns)
            """)
        return try Self.campaign(from: rows[0])
    }

    /// A campaign by id; `orgID` restricts the lookup to one organization (another organization's campaign
    /// is reported as not existing).
    public func campaign(id: Int64, orgID: Int64? = nil) async throws -> Campaign {
        let rows = try await database.query("""
            SELECT \(unescaped: Self.columns) FROM campaigns
            WHERE id = \(id) AND (\(orgID)::bigint IS NULL OR org_id = \(orgID))
            """)
        guard let row = rows.first else { throw Self.unknown(id) }
        return try Self.campaign(from: row)
    }

    /// Changes some settings; nil leaves a setting as it is. `clearMaxOpen` removes the cap.
    public func update(id: Int64, selfAssign: Bool? = nil, batchSize: Int? = nil, maxOpen: Int? = nil,
                       clearMaxOpen: Bool = false, requireFinishedBatch: Bool? = nil,
                       requestApproval: Bool? = nil) async throws -> Campaign {
        let current = try await campaign(id: id)
        var settings = current.settings
        if let selfAssign { settings.selfAssign = selfAssign }
        if let batchSize { settings.batchSize = batchSize }
        if let maxOpen { settings.maxOpen = maxOpen }
        if clearMaxOpen { settings.maxOpen = nil }
        if let requireFinishedBatch { settings.requireFinishedBatch = requireFinishedBatch }
        try settings.validate()
        let rows = try await database.query("""
            UPDATE campaigns SET self_assign = \(settings.selfAssign), batch_size = \(settings.batchSize),
                max_open = \(settings.maxOpen), require_finished_batch = \(settings.requireFinishedBatch),
                request_approval = \(requestApproval ?? current.requestApproval)
            WHERE id = \(id)
            RETURNING \(unescaped: Self.columns)
            """)
        return try Self.campaign(from: rows[0])
    }

    /// Changes how the campaign routes; nil leaves a setting as it is. `clearReleaseStale` turns stale release off.
    public func updateRouting(id: Int64, policy: RoutingPolicy? = nil, fallback: RoutingPolicy? = nil,
                              releaseStaleAfter: Int? = nil, clearReleaseStale: Bool = false,
                              orgID: Int64? = nil) async throws -> Campaign {
        var routing = try await campaign(id: id, orgID: orgID).routing
        if let policy { routing.policy = policy }
        if let fallback { routing.fallback = fallback }
        if let releaseStaleAfter { routing.releaseStaleAfter = releaseStaleAfter }
        if clearReleaseStale { routing.releaseStaleAfter = nil }
        try routing.validate()
        let rows = try await database.query("""
            UPDATE campaigns SET routing_policy = \(routing.policy.rawValue), routing_fallback = \(routing.fallback.rawValue),
                release_stale_after = \(routing.releaseStaleAfter)
            WHERE id = \(id)
            RETURNING \(unescaped: Self.columns)
            """)
        return try Self.campaign(from: rows[0])
    }

    /// Qualified by the table's name: a query that reads them names `campaigns` without an alias.
    static let columns = """
        campaigns.id, campaigns.org_id, campaigns.name, self_assign, batch_size, max_open, require_finished_batch,
        campaigns.created_at, routing_policy, routing_fallback, release_stale_after, request_approval,
        (SELECT t.name FROM teams t WHERE t.id = campaigns.routing_team_id),
        array(SELECT t.name FROM campaign_teams x JOIN teams t ON t.id = x.team_id
              WHERE x.campaign_id = campaigns.id ORDER BY t.name COLLATE "C")
        """

    static func campaign(from row: PostgresRow) throws -> Campaign {
        let (id, orgID, name, selfAssign, batchSize, maxOpen, requireFinished, createdAt, policy, fallback, stale,
             approval, routingTeam, teams) =
            try row.decode((Int64, Int64, String, Bool, Int, Int?, Bool, Date, String, String, Int?, Bool, String?,
                            [String]).self)
        var campaign = Campaign(id: id, orgID: orgID, name: name,
                                settings: SelfAssignSettings(selfAssign: selfAssign, batchSize: batchSize, maxOpen: maxOpen,
                                                             requireFinishedBatch: requireFinished),
                                createdAt: createdAt)
        campaign.routing = RoutingSettings(policy: RoutingPolicy(rawValue: policy) ?? .manual,
                                           fallback: RoutingPolicy(rawValue: fallback) ?? .manual,
                                           releaseStaleAfter: stale)
        campaign.requestApproval = approval
        campaign.routingTeam = routingTeam
        campaign.teams = teams
        return campaign
    }

    static func unknown(_ id: Int64) -> SwitchboardError {
        .notFound("unknown_campaign", "Campaign \(id) does not exist.")
    }

    /// A campaign with its headline counts, for the console's list.
    public struct Summary: Sendable {
        public let id: Int64
        public let name: String
        public let total: Int
        public let unassigned: Int
        public let needsReply: Int
    }

    /// The organization's campaigns, newest first, with counts from the kept deltas (no campaign is scanned).
    /// With `senderID`, only the campaigns that user is an active sender of (a texter's list).
    public func summaries(orgID: Int64, senderID: Int64? = nil, limit: Int = 200) async throws -> [Summary] {
        let rows = try await database.query("""
            SELECT k.id, k.name, coalesce(c.total, 0)::bigint, coalesce(c.unassigned, 0)::bigint,
                   coalesce(c.needs_reply, 0)::bigint
            FROM campaigns k
            LEFT JOIN LATERAL (
                SELECT sum(n) AS total, sum(n) FILTER (WHERE assignee_id IS NULL) AS unassigned,
                       sum(n) FILTER (WHERE status = 'needs_reply') AS needs_reply
                FROM conversation_counts WHERE campaign_id = k.id
            ) c ON true
            WHERE k.org_id = \(orgID)
              AND (\(senderID)::bigint IS NULL OR EXISTS (
                  SELECT 1 FROM campaign_senders s WHERE s.campaign_id = k.id AND s.user_id = \(senderID) AND s.active))
            ORDER BY k.id DESC LIMIT \(limit)
            """)
        return try rows.map { row in
            let (id, name, total, unassigned, needsReply) = try row.decode((Int64, String, Int64, Int64, Int64).self)
            return Summary(id: id, name: name, total: Int(total), unassigned: Int(unassigned), needsReply: Int(needsReply))
        }
    }
}
