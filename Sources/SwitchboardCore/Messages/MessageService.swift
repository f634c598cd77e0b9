import Foundation
import Logging
import PostgresNIO

/// Message events, which drive a conversation's status (the contract's table), and closing.
public struct MessageService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    var logger: Logger { database.logger }

    public enum Direction: String, Sendable {
        case inbound = "in", outbound = "out"
        var stored: String { self == .inbound ? "inbound" : "outbound" }

        public init(parsing text: String) throws(SwitchboardError) {
            switch text.lowercased() {
            case "in", "inbound": self = .inbound
            case "out", "outbound": self = .outbound
            default: throw .invalid("invalid_direction", "Direction '\(text)' is unknown; use in or out.")
            }
        }
    }

    /// Which conversation: by id, or by campaign and phone (as a carrier webhook addresses it).
    public enum Address: Sendable {
        case conversation(Int64)
        case phone(campaignID: Int64, phone: String)
    }

    public struct Recorded: Sendable {
        public let messageID: Int64
        public let conversation: Conversation
        /// The `claim` batch when the reply made its sender the assignee. (A reply routed to a sender shows in
        /// `conversation.assignee`; its `route` batch is in the conversation's history.)
        public let claimBatchID: Int64?

        public init(messageID: Int64, conversation: Conversation, claimBatchID: Int64?) {
            self.messageID = messageID
            self.conversation = conversation
            self.claimBatchID = claimBatchID
        }
    }

    public static let optOutKeywords: Set<String> = ["STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPALL"]
    public static let maximumBody = 1600

    /// Records a message and applies its status change, in one transaction. With `caller`, Core's `Access` rule
    /// is checked on the conversation as the transaction holds it (a texter replies to their own or an unassigned
    /// one).
    public func record(_ address: Address, direction: Direction, body: String, sender handle: String? = nil,
                       leaveUnassigned: Bool = false, orgID: Int64? = nil, caller: User? = nil) async throws -> Recorded {
        guard !body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw SwitchboardError.invalid("invalid_body", "The message body is empty.")
        }
        try Text.check(body, field: "message body", maximum: Self.maximumBody, code: "invalid_body")
        if direction == .outbound && handle == nil {
            throw SwitchboardError.invalid("missing_sender", "An outbound message needs the sender who sends it.")
        }
        let conversationID = try await resolve(address, orgID: orgID)
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        let campaign = try await CampaignService(database).campaign(id: conversation.campaignID)
        let assignments = AssignmentService(database)
        let (messageID, claimBatch) = try await database.transaction { connection in
            let current = try await lock(conversationID, campaignID: campaign.id, on: connection)
            if let caller {
                try Access.check(direction == .outbound ? .reply : .read, conversationID: conversationID,
                                 assigneeID: current.assigneeID, by: caller)
            }
            var senderID: Int64? = nil
            if let handle {
                let sender = try await assignments.sender(handle, campaign: campaign, on: connection)
                guard sender.active else {
                    throw SwitchboardError.refused("not_a_sender", "Sender '\(handle)' is deactivated on campaign \(campaign.id).")
                }
                senderID = sender.id
            }
            var claimBatch: Int64? = nil
            let newStatus: ConversationStatus
            var unread = current.unread
            switch direction {
            case .inbound:
                let keyword = body.trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
                if current.status == .optedOut {
                    newStatus = .optedOut
                } else if Self.optOutKeywords.contains(keyword) {
                    newStatus = .optedOut
                    unread = true
                } else {
                    newStatus = .needsReply
                    unread = true
                }
            case .outbound:
                guard current.status != .optedOut else {
                    throw SwitchboardError.refused("opted_out",
                                                   "Conversation \(conversationID) has opted out; nothing more may be sent to it.")
                }
                newStatus = .waiting
                if let senderID {
                    try await SenderService.touch(campaignID: campaign.id, userID: senderID, on: connection, logger: logger)
                }
                if current.assigneeID == nil && !leaveUnassigned, let senderID {
                    claimBatch = try await claim(conversationID, campaignID: campaign.id, senderID: senderID,
                                                 actor: handle ?? "", on: connection)
                }
            }
            let rows = try await connection.rows("""
                INSERT INTO messages (campaign_id, conversation_id, direction, body, sender_id)
                VALUES (\(campaign.id), \(conversationID), \(direction.stored), \(body),
                        \(direction == .outbound ? senderID : nil))
                RETURNING id
                """, logger: logger)
            // A reply nobody owns is routed as this transaction commits (the deferred trigger `messages_route`,
            // migrations 0015–0017), under the campaign's routing lock; its `route` batch notifies the sender.
            // When the campaign routes, that trigger also writes this status change, in the same UPDATE as the
            // assignee: the row is updated once instead of twice.
            let leftToRouting = direction == .inbound && newStatus == .needsReply && current.assigneeID == nil
                && campaign.routing.policy != .manual
            if !leftToRouting {
                try await connection.query("""
                    UPDATE conversations SET status = \(newStatus.rawValue), unread = \(unread), last_message_at = now(),
                        updated_at = now()
                    WHERE campaign_id = \(campaign.id) AND id = \(conversationID)
                    """, logger: logger)
            }
            if claimBatch == nil {
                try await Notifications.announceChange(conversationID: conversationID, campaignID: campaign.id,
                                                       kind: direction == .inbound ? "reply" : "message",
                                                       on: connection, logger: logger)
            }
            return (try rows[0].decode(Int64.self), claimBatch)
        }
        return Recorded(messageID: messageID,
                        conversation: try await ConversationService(database).conversation(id: conversationID),
                        claimBatchID: claimBatch)
    }

    /// One message of a conversation's thread.
    public struct Message: Sendable, Equatable {
        public let id: Int64
        public let direction: Direction
        public let body: String
        /// The sender's handle (outbound messages).
        public let sender: String?
        public let createdAt: Date
    }

    /// A conversation's last `limit` messages, oldest first.
    public func messages(conversationID: Int64, orgID: Int64? = nil, limit: Int = 200) async throws -> [Message] {
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        let rows = try await database.query("""
            SELECT * FROM (
                SELECT m.id, m.direction, m.body, u.handle, m.created_at FROM messages m
                LEFT JOIN users u ON u.id = m.sender_id
                WHERE m.campaign_id = \(conversation.campaignID) AND m.conversation_id = \(conversation.id)
                ORDER BY m.id DESC LIMIT \(limit)
            ) last ORDER BY id
            """)
        return try rows.map { row in
            let (id, direction, body, sender, createdAt) = try row.decode((Int64, String, String, String?, Date).self)
            return Message(id: id, direction: direction == "inbound" ? .inbound : .outbound, body: body, sender: sender,
                           createdAt: createdAt)
        }
    }

    /// Closes a conversation (resolved by a sender). An opted-out conversation stays opted out. With `caller`,
    /// Core's `Access` rule is checked on the locked row (a texter closes only their own).
    public func close(conversationID: Int64, sender handle: String? = nil, orgID: Int64? = nil,
                      caller: User? = nil) async throws -> Conversation {
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        let campaign = try await CampaignService(database).campaign(id: conversation.campaignID)
        try await database.transaction { connection in
            let current = try await lock(conversationID, campaignID: campaign.id, on: connection)
            if let caller {
                try Access.check(.close, conversationID: conversationID, assigneeID: current.assigneeID, by: caller)
            }
            if let handle {
                let sender = try await AssignmentService(database).sender(handle, campaign: campaign, on: connection)
                try await SenderService.touch(campaignID: campaign.id, userID: sender.id, on: connection, logger: logger)
            }
            guard current.status != .optedOut else {
                throw SwitchboardError.refused("opted_out", "Conversation \(conversationID) has opted out and cannot be closed.")
            }
            try await connection.query("""
                UPDATE conversations SET status = 'closed', updated_at = now()
                WHERE campaign_id = \(campaign.id) AND id = \(conversationID)
                """, logger: logger)
            try await Notifications.announceChange(conversationID: conversationID, campaignID: campaign.id,
                                                   kind: "close", on: connection, logger: logger)
        }
        return try await ConversationService(database).conversation(id: conversationID)
    }

    /// The assignee opening the conversation clears `unread`; anyone else opening it changes nothing.
    public func open(conversationID: Int64, by userID: Int64, orgID: Int64? = nil) async throws -> Conversation {
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        try await database.query("""
            UPDATE conversations SET unread = false
            WHERE campaign_id = \(conversation.campaignID) AND id = \(conversationID) AND assignee_id = \(userID) AND unread
            """)
        return try await ConversationService(database).conversation(id: conversationID)
    }

    private func resolve(_ address: Address, orgID: Int64?) async throws -> Int64 {
        switch address {
        case .conversation(let id):
            return id
        case .phone(let campaignID, let raw):
            _ = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
            guard let phone = Phone.normalize(raw) else {
                throw SwitchboardError.invalid("invalid_phone", "Phone '\(raw)' is not a valid phone number.")
            }
            let rows = try await database.query(
                "SELECT id FROM contacts WHERE campaign_id = \(campaignID) AND phone = \(phone)")
            guard let row = rows.first else {
                throw SwitchboardError.notFound("unknown_phone", "Campaign \(campaignID) has no conversation with \(phone).")
            }
            return try row.decode(Int64.self)
        }
    }

    struct Locked {
        let status: ConversationStatus
        let assigneeID: Int64?
        let unread: Bool
    }

    private func lock(_ id: Int64, campaignID: Int64, on connection: PostgresConnection) async throws -> Locked {
        let rows = try await connection.rows("""
            SELECT status, assignee_id, unread FROM conversations WHERE campaign_id = \(campaignID) AND id = \(id)
            FOR UPDATE
            """, logger: logger)
        guard let row = rows.first else { throw ConversationService.unknown(id) }
        let (status, assignee, unread) = try row.decode((String, Int64?, Bool).self)
        return Locked(status: ConversationStatus(rawValue: status) ?? .notStarted, assigneeID: assignee, unread: unread)
    }

    /// First replier claims: the unassigned conversation becomes the sender's, as a batch of kind `claim`.
    private func claim(_ id: Int64, campaignID: Int64, senderID: Int64, actor: String,
                       on connection: PostgresConnection) async throws -> Int64 {
        let assignments = AssignmentService(database)
        let batchID = try await assignments.nextBatchID(on: connection)
        try await connection.query("""
            WITH moved AS (
                UPDATE conversations SET assignee_id = \(senderID), updated_at = now()
                WHERE campaign_id = \(campaignID) AND id = \(id) AND assignee_id IS NULL
                RETURNING id, NULL::bigint AS from_id, assignee_id AS to_id
            )
            \(unescaped: HistoryService.recordMoves(from: "moved", campaign: String(campaignID), batch: String(batchID)))
            """, logger: logger)
        try await assignments.recordBatch(id: batchID, campaignID: campaignID, kind: .claim, actor: actor,
                                          statusFilter: .any, parameters: ["conversation": String(id)], matched: 1,
                                          moved: 1, unchanged: 0,
                                          tallies: [.init(userID: senderID, handle: actor, received: 1, removed: 0)],
                                          on: connection)
        return batchID
    }
}
