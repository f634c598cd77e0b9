import Foundation
import Logging
import PostgresNIO

/// Assignment notifications: every recorded batch sends, in its own transaction (so only if it commits), one
/// `pg_notify` on channel `switchboard_assignments` per sender it gave conversations to or took them from.
///
/// Payload (JSON): `{"org_id", "campaign_id", "batch_id", "kind", "user_id", "sender", "received", "removed"}`.
public enum Notifications {
    public static let channel = "switchboard_assignments"

    /// One notification, as decoded from its payload.
    public struct Event: Sendable, Equatable, Codable {
        public let orgID: Int64
        public let campaignID: Int64
        public let batchID: Int64
        public let kind: String
        public let userID: Int64
        public let sender: String
        public let received: Int
        public let removed: Int

        enum CodingKeys: String, CodingKey {
            case orgID = "org_id", campaignID = "campaign_id", batchID = "batch_id", kind, userID = "user_id", sender,
                 received, removed
        }

        public init(payload: String) throws {
            self = try JSONDecoder().decode(Event.self, from: Data(payload.utf8))
        }
    }

    static func announce(batchID: Int64, campaignID: Int64, kind: BatchKind, tallies: [AssignmentService.Tally],
                         on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            SELECT pg_notify(\(channel), json_build_object(
                'org_id', k.org_id, 'campaign_id', k.id, 'batch_id', \(batchID), 'kind', \(kind.rawValue),
                'user_id', x.user_id, 'sender', x.handle, 'received', x.received, 'removed', x.removed)::text)
            FROM unnest(\(tallies.map(\.userID))::bigint[], \(tallies.map(\.handle))::text[],
                        \(tallies.map(\.received))::int[], \(tallies.map(\.removed))::int[])
                AS x(user_id, handle, received, removed)
            JOIN campaigns k ON k.id = \(campaignID)
            """, logger: logger)
    }
}
