import Foundation
import PostgresNIO

/// Reading conversations: a campaign's list with filters, paged by a keyset cursor.
public struct ConversationService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public enum AssigneeFilter: Sendable, Equatable {
        case anyone
        case unassigned
        case sender(String)
        /// A texter's view: the user's own conversations and the unassigned ones.
        case mineOrUnassigned(Int64)
    }

    public struct Page: Sendable {
        public let conversations: [Conversation]
        /// Pass back to get the next page; nil on the last page.
        public let nextCursor: String?

        public init(conversations: [Conversation], nextCursor: String?) {
            self.conversations = conversations
            self.nextCursor = nextCursor
        }
    }

    public static let maximumLimit = 1000

    /// Conversations of a campaign, oldest first (creation order, then id).
    public func list(campaignID: Int64, assignee: AssigneeFilter = .anyone, status: ConversationStatus? = nil,
                     filter: ConversationFilter = .init(), limit: Int = 100, cursor: String? = nil) async throws -> Page {
        guard (1...Self.maximumLimit).contains(limit) else {
            throw SwitchboardError.invalid("invalid_limit", "Limit \(limit) is out of range; it must be from 1 to \(Self.maximumLimit).")
        }
        let filter = try filter.validated()
        _ = try await CampaignService(database).campaign(id: campaignID)
        let after = try cursor.map(Cursor.init(parsing:))
        var statement = SQLStatement()
        statement.append("""
            SELECT \(Self.columns) FROM (
                SELECT c.id, c.campaign_id, c.status, c.assignee_id, c.unread, c.last_message_at, c.created_at
                FROM conversations c
                WHERE 
            """)
        try await conditions(&statement, campaignID: campaignID, assignee: assignee, status: status, filter: filter)
        if let after {
            statement.append(" AND (\(Self.micros), c.id) > (\(statement.bind(after.micros))::bigint, \(statement.bind(after.id))::bigint)")
        }
        // The page first, then its contacts (see `queue`).
        statement.append("""

                ORDER BY c.created_at, c.id
                LIMIT \(statement.bind(limit + 1))
            ) c
            JOIN contacts p ON p.campaign_id = c.campaign_id AND p.id = c.id
            LEFT JOIN users u ON u.id = c.assignee_id
            ORDER BY c.created_at, c.id
            """)
        let rows = try await database.query(statement.query)
        let page = try rows.prefix(limit).map(Self.conversationAndPosition(from:))
        let next = rows.count > limit ? page.last.map { Cursor(micros: $0.micros, id: $0.conversation.id).text } : nil
        let conversations = page.map(\.conversation)
        return Page(conversations: conversations, nextCursor: next)
    }

    /// How many conversations a list with these filters holds (every page together).
    public func count(campaignID: Int64, assignee: AssigneeFilter = .anyone, status: ConversationStatus? = nil,
                      filter: ConversationFilter = .init()) async throws -> Int {
        let filter = try filter.validated()
        _ = try await CampaignService(database).campaign(id: campaignID)
        var statement = SQLStatement()
        statement.append("SELECT count(*) FROM conversations c WHERE ")
        try await conditions(&statement, campaignID: campaignID, assignee: assignee, status: status, filter: filter)
        return try await database.query(statement.query)[0].decode(Int.self)
    }

    /// The WHERE conditions of a list over `conversations c`.
    private func conditions(_ statement: inout SQLStatement, campaignID: Int64, assignee: AssigneeFilter,
                            status: ConversationStatus?, filter: ConversationFilter) async throws {
        let campaign = statement.bind(campaignID)
        statement.append("c.campaign_id = \(campaign)")
        switch assignee {
        case .sender(let handle):
            let id = try await SenderService(database).sender(campaignID: campaignID, handle: handle).userID
            statement.append(" AND c.assignee_id = \(statement.bind(id))")
        case .mineOrUnassigned(let userID):
            statement.append(" AND (c.assignee_id IS NULL OR c.assignee_id = \(statement.bind(userID)))")
        case .unassigned:
            statement.append(" AND c.assignee_id IS NULL")
        case .anyone:
            break
        }
        if let status { statement.append(" AND c.status = \(statement.bind(status.rawValue))") }
        filter.conditions(&statement, campaign: campaign, joins: true)
    }

    /// One conversation by id, with `orgID` restricting it to an organization.
    public func conversation(id: Int64, orgID: Int64? = nil) async throws -> Conversation {
        let rows = try await database.query("""
            SELECT \(unescaped: Self.columns) FROM contacts p
            JOIN conversations c ON c.campaign_id = p.campaign_id AND c.id = p.id
            LEFT JOIN users u ON u.id = c.assignee_id
            JOIN campaigns k ON k.id = c.campaign_id
            WHERE p.id = \(id) AND (\(orgID)::bigint IS NULL OR k.org_id = \(orgID))
            """)
        guard let row = rows.first else { throw Self.unknown(id) }
        return try Self.conversation(from: row)
    }

    static func unknown(_ id: Int64) -> SwitchboardError {
        .notFound("unknown_conversation", "Conversation \(id) does not exist.")
    }

    static let micros = "(extract(epoch FROM c.created_at) * 1000000)::bigint"

    static let columns = """
        c.id, c.campaign_id, p.phone, p.name, c.status, u.handle, c.unread, c.last_message_at, c.created_at,
        (extract(epoch FROM c.created_at) * 1000000)::bigint, c.id
        """

    static func conversation(from row: PostgresRow) throws -> Conversation {
        try conversationAndPosition(from: row).conversation
    }

    static func conversationAndPosition(from row: PostgresRow) throws -> (conversation: Conversation, micros: Int64) {
        let (id, campaignID, phone, name, status, assignee, unread, lastMessageAt, createdAt, micros, _) =
            try row.decode((Int64, Int64, String, String, String, String?, Bool, Date?, Date, Int64, Int64).self)
        let conversation = Conversation(id: id, campaignID: campaignID, phone: phone, name: name,
                                        status: ConversationStatus(rawValue: status) ?? .notStarted,
                                        assignee: assignee, unread: unread, lastMessageAt: lastMessageAt,
                                        createdAt: createdAt)
        return (conversation, micros)
    }
}

/// A keyset position: (created_at in microseconds, id) of the last row seen, as an opaque string.
struct Cursor: Equatable {
    let micros: Int64
    let id: Int64

    init(micros: Int64, id: Int64) {
        self.micros = micros
        self.id = id
    }

    init(parsing text: String) throws(SwitchboardError) {
        let parts = text.split(separator: "_")
        guard parts.count == 2, let micros = Int64(parts[0]), let id = Int64(parts[1]) else {
            throw .invalid("invalid_cursor", "Cursor '\(text)' is not one this server handed out.")
        }
        self.micros = micros
        self.id = id
    }

    var text: String { "\(micros)_\(id)" }
}
