import Foundation
import Logging
import PostgresNIO

/// Assignment notifications: every recorded batch sends, in its own transaction (so only if it commits), one
/// `pg_notify` on channel `switchboard_assignments` per sender it gave conversations to or took them from
/// (`switchboard_announce_batch`, in `sql/functions`). A
/// message or a close on a conversation that has an assignee sends one to that assignee (kind `reply` for the
/// contact's, `message` for a sender's, or `close`; no batch; the conversation's id), so their open queue can
/// refresh. Request approval adds `request_pending` and `request_denied` (with `request_id`).
///
/// Payload (JSON): `{"org_id", "campaign_id", "batch_id", "kind", "user_id", "sender", "received", "removed",
/// "conversation_id"}`.
public enum Notifications {
    public static let channel = "switchboard_assignments"

    /// One notification, as decoded from its payload.
    public struct Event: Sendable, Equatable, Codable {
        public let orgID: Int64
        public let campaignID: Int64
        /// Nil for a message or a close.
        public let batchID: Int64?
        public let kind: String
        public let userID: Int64
        public let sender: String
        public let received: Int
        public let removed: Int
        /// The conversation a message or close changed.
        public let conversationID: Int64?
        /// A request held for approval, made (`request_pending`) or denied (`request_denied`).
        public var requestID: Int64? = nil

        enum CodingKeys: String, CodingKey {
            case orgID = "org_id", campaignID = "campaign_id", batchID = "batch_id", kind, userID = "user_id", sender,
                 received, removed, conversationID = "conversation_id", requestID = "request_id"
        }

        public init(payload: String) throws {
            self = try JSONDecoder().decode(Event.self, from: Data(payload.utf8))
        }
    }

    /// Tells the conversation's assignee, if it has one, that a message or a close changed it (in the caller's
    /// transaction: only if it commits).
    static func announceChange(conversationID: Int64, campaignID: Int64, kind: String, on connection: PostgresConnection,
                               logger: Logger) async throws {
        try await connection.query("""
            SELECT pg_notify(\(channel), json_build_object(
                'org_id', k.org_id, 'campaign_id', k.id, 'batch_id', NULL, 'kind', \(kind), 'user_id', c.assignee_id,
                'sender', u.handle, 'received', 0, 'removed', 0, 'conversation_id', c.id)::text)
            FROM conversations c JOIN campaigns k ON k.id = c.campaign_id JOIN users u ON u.id = c.assignee_id
            WHERE c.campaign_id = \(campaignID) AND c.id = \(conversationID)
            """, logger: logger)
    }
}
