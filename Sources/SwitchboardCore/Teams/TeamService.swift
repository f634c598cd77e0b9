import Foundation
import Logging
import PostgresNIO

/// Teams (wave 3): an organization's named groups of users. A team is a target of the batch operations and of
/// escalation, the one routing may be limited to, and what a campaign may be limited to (`switchboard_team_admits`).
public struct TeamService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    var logger: Logger { database.logger }

    /// A team as lists show it: `{"name", "members": [handles]}`, members by handle.
    public struct Team: Sendable, Equatable, Codable {
        public let name: String
        public let members: [String]

        public init(name: String, members: [String]) {
            self.name = name
            self.members = members
        }
    }

    /// Team names are written like handles, so that they fit a URL and a flag: 1–64 of a-z, 0-9, '.', '_', '-'.
    public static func validate(name: String) throws(SwitchboardError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        guard (1...64).contains(name.count), name.allSatisfy({ allowed.contains($0) }) else {
            throw .invalid("invalid_team", "Team name '\(name)' is invalid; use 1 to 64 of a-z, 0-9, '.', '_' and '-'.")
        }
    }

    public func create(orgID: Int64, name: String) async throws -> Team {
        try Self.validate(name: name)
        let rows = try await database.query("""
            INSERT INTO teams (org_id, name) VALUES (\(orgID), \(name)) ON CONFLICT (org_id, name) DO NOTHING RETURNING id
            """)
        guard !rows.isEmpty else { throw SwitchboardError.conflict("team_exists", "Team '\(name)' already exists.") }
        return Team(name: name, members: [])
    }

    /// Puts users into the team (members already in it stay); all or none. Returns the team.
    public func add(orgID: Int64, team name: String, handles: [String]) async throws -> Team {
        try await change(orgID: orgID, team: name, handles: handles) { connection, team, users in
            try await connection.query("""
                INSERT INTO team_members (org_id, team_id, user_id)
                SELECT \(orgID), \(team), u FROM unnest(\(users)::bigint[]) AS u ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    /// Takes users out of the team; one who is not in it is named, and nothing changes. Returns the team.
    public func remove(orgID: Int64, team name: String, handles: [String]) async throws -> Team {
        try await change(orgID: orgID, team: name, handles: handles) { connection, team, users in
            let removed = Set(try await connection.rows("""
                DELETE FROM team_members WHERE team_id = \(team) AND user_id = ANY(\(users)::bigint[]) RETURNING user_id
                """, logger: logger).map { try $0.decode(Int64.self) })
            if let missing = zip(handles, users).first(where: { !removed.contains($0.1) }) {
                throw SwitchboardError.notFound("not_a_member", "User '\(missing.0)' is not in team '\(name)'.")
            }
        }
    }

    private func change(orgID: Int64, team name: String, handles: [String],
                        _ body: @escaping @Sendable (PostgresConnection, Int64, [Int64]) async throws -> Void)
        async throws -> Team
    {
        guard !handles.isEmpty else {
            throw SwitchboardError.invalid("missing_handles", "Name at least one user.")
        }
        for handle in handles { try Directory.validate(handle: handle) }
        return try await database.transaction { connection in
            let team = try await Self.id(of: name, orgID: orgID, on: connection, logger: logger)
            let users = try await Self.users(handles, orgID: orgID, on: connection, logger: logger)
            try await body(connection, team, users)
            return try await Self.list(orgID: orgID, only: team, on: connection, logger: logger)[0]
        }
    }

    /// The organization's teams by name, each with its members.
    public func list(orgID: Int64) async throws -> [Team] {
        try await database.withConnection { connection in
            try await Self.list(orgID: orgID, only: nil, on: connection, logger: logger)
        }
    }

    static func list(orgID: Int64, only team: Int64?, on connection: PostgresConnection, logger: Logger) async throws
        -> [Team]
    {
        try await connection.rows("""
            SELECT t.name, array(SELECT u.handle FROM team_members m JOIN users u ON u.id = m.user_id
                                 WHERE m.team_id = t.id ORDER BY u.handle COLLATE "C")
            FROM teams t WHERE t.org_id = \(orgID) AND (\(team)::bigint IS NULL OR t.id = \(team))
            ORDER BY t.name COLLATE "C" LIMIT 1000
            """, logger: logger).map { row in
            let (name, members) = try row.decode((String, [String]).self)
            return Team(name: name, members: members)
        }
    }

    /// A team's id by name, or 404 `unknown_team` naming it.
    static func id(of name: String, orgID: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try validate(name: name)
        let rows = try await connection.rows("SELECT id FROM teams WHERE org_id = \(orgID) AND name = \(name)",
                                             logger: logger)
        guard let row = rows.first else {
            throw SwitchboardError.notFound("unknown_team", "Team '\(name)' does not exist in this organization.")
        }
        return try row.decode(Int64.self)
    }

    /// User ids by handle, in the order given; the first unknown handle is named.
    static func users(_ handles: [String], orgID: Int64, on connection: PostgresConnection, logger: Logger) async throws
        -> [Int64]
    {
        let rows = try await connection.rows("""
            SELECT h.handle, u.id FROM unnest(\(handles)::text[]) WITH ORDINALITY AS h(handle, position)
            LEFT JOIN users u ON u.org_id = \(orgID) AND u.handle = h.handle ORDER BY h.position
            """, logger: logger)
        return try rows.map { row in
            let (handle, id) = try row.decode((String, Int64?).self)
            guard let id else {
                throw SwitchboardError.notFound("unknown_user", "User '\(handle)' does not exist in this organization.")
            }
            return id
        }
    }

    // MARK: Campaigns and teams

    /// Checks that every named team exists in the organization (404 `unknown_team` naming the first that does
    /// not): asked before a change that also sets other things, so that none of it is applied when a name is wrong.
    public func requireExisting(_ names: [String], orgID: Int64) async throws {
        try await database.withConnection { connection in
            for name in names { _ = try await Self.id(of: name, orgID: orgID, on: connection, logger: logger) }
        }
    }

    /// Limits a campaign to teams (empty: anyone), sets or clears its routing team; nil leaves a setting as it is.
    /// Senders outside the teams keep what they hold; they cannot be added, join, request or be routed to.
    public func configure(campaignID: Int64, teams: [String]? = nil, routingTeam: String? = nil,
                          clearRoutingTeam: Bool = false, orgID: Int64? = nil) async throws -> Campaign {
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        try await database.transaction { connection in
            if let teams {
                let ids = try await teams.asyncMap {
                    try await Self.id(of: $0, orgID: campaign.orgID, on: connection, logger: logger)
                }
                try await connection.query("DELETE FROM campaign_teams WHERE campaign_id = \(campaign.id)", logger: logger)
                try await connection.query("""
                    INSERT INTO campaign_teams (org_id, campaign_id, team_id)
                    SELECT DISTINCT \(campaign.orgID), \(campaign.id), t FROM unnest(\(ids)::bigint[]) AS t
                    """, logger: logger)
            }
            if let routingTeam {
                let id = try await Self.id(of: routingTeam, orgID: campaign.orgID, on: connection, logger: logger)
                try await connection.query("UPDATE campaigns SET routing_team_id = \(id) WHERE id = \(campaign.id)",
                                           logger: logger)
            } else if clearRoutingTeam {
                try await connection.query("UPDATE campaigns SET routing_team_id = NULL WHERE id = \(campaign.id)",
                                           logger: logger)
            }
        }
        return try await CampaignService(database).campaign(id: campaign.id)
    }

    /// The team's active senders of the campaign in handle order (with `availableOnly`, the available ones), as
    /// batch targets; refused (`team_has_no_senders`) when there are none.
    static func targets(_ name: String, campaign: Campaign, availableOnly: Bool, excluding: Int64? = nil,
                        on connection: PostgresConnection, logger: Logger) async throws -> [(id: Int64, handle: String)]
    {
        let team = try await id(of: name, orgID: campaign.orgID, on: connection, logger: logger)
        let rows = try await connection.rows("""
            SELECT u.id, u.handle FROM team_members m
            JOIN campaign_senders s ON s.campaign_id = \(campaign.id) AND s.user_id = m.user_id
            JOIN users u ON u.id = m.user_id
            WHERE m.team_id = \(team) AND s.active AND (s.available OR NOT \(availableOnly))
              AND u.id IS DISTINCT FROM \(excluding)
            ORDER BY u.handle COLLATE "C"
            """, logger: logger)
        guard !rows.isEmpty else {
            throw SwitchboardError.invalid("team_has_no_senders",
                                           "Team '\(name)' has no \(availableOnly ? "available " : "")active sender in campaign \(campaign.id).")
        }
        return try rows.map { try $0.decode((Int64, String).self) }.map { (id: $0.0, handle: $0.1) }
    }

    /// Whether the campaign's teams admit these users as new senders (those already on the list keep their place);
    /// the first, in the order given, who is not admitted is named (403 `not_in_team`). One statement.
    static func checkAdmitted(_ handles: [String], campaign: Campaign, on connection: PostgresConnection,
                              logger: Logger) async throws {
        let refused = try await connection.rows("""
            SELECT h.handle FROM unnest(\(handles)::text[]) WITH ORDINALITY AS h(handle, position)
            JOIN users u ON u.org_id = \(campaign.orgID) AND u.handle = h.handle
            WHERE NOT EXISTS (SELECT 1 FROM campaign_senders s WHERE s.campaign_id = \(campaign.id) AND s.user_id = u.id)
              AND NOT switchboard_team_admits(\(campaign.id), u.id)
            ORDER BY h.position LIMIT 1
            """, logger: logger)
        if let first = refused.first { throw notInTeam(try first.decode(String.self), campaign: campaign) }
    }

    static func notInTeam(_ handle: String, campaign: Campaign) -> SwitchboardError {
        SwitchboardError(.forbidden, "not_in_team",
                         "User '\(handle)' is not in a team campaign \(campaign.id) is limited to (\(campaign.teams.joined(separator: ", "))).")
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
