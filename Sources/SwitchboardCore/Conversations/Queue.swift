import Foundation
import PostgresNIO

extension ConversationService {
    /// Which of a queue's conversations to show.
    public enum QueueFilter: Sendable, Equatable {
        case all
        case status(ConversationStatus)
        /// Not closed or opted out.
        case open
        case unread

        public init(parsing text: String?) throws(SwitchboardError) {
            guard let text else {
                self = .all
                return
            }
            switch text.lowercased() {
            case "open": self = .open
            case "unread": self = .unread
            case "any", "all": self = .all
            default:
                guard let status = try StatusFilter(parsing: text).status else { self = .all; return }
                self = .status(status)
            }
        }

        var condition: String {
            switch self {
            case .all: "true"
            case .status: "c.status = $4"
            case .open: "c.status NOT IN ('closed', 'opted_out')"
            case .unread: "c.unread"
            }
        }
    }

    /// A sender's "Assigned to Me" queue (all their campaigns, or one), or a campaign's unassigned view
    /// (`userID` nil, `campaignID` required): newest activity first, paged by a keyset cursor so that pages stay
    /// stable while conversations change.
    public func queue(userID: Int64?, campaignID: Int64?, filter: QueueFilter = .all, limit: Int = 100,
                      cursor: String? = nil) async throws -> Page {
        guard (1...Self.maximumLimit).contains(limit) else {
            throw SwitchboardError.invalid("invalid_limit", "Limit \(limit) is out of range; it must be from 1 to \(Self.maximumLimit).")
        }
        let after = try cursor.map(Cursor.init(parsing:))
        var status: String? = nil
        if case .status(let s) = filter { status = s.rawValue }
        let activity = "(extract(epoch FROM coalesce(c.last_message_at, c.created_at)) * 1000000)::bigint"
        // The page is chosen first and only its rows look up their contacts: joined before the sort, every
        // conversation of the queue would.
        let query = PostgresQuery(unsafeSQL: """
            SELECT c.id, c.campaign_id, p.phone, p.name, c.status, u.handle, c.unread, c.last_message_at, c.created_at,
                   c.activity, c.id
            FROM (
                SELECT c.id, c.campaign_id, c.status, c.assignee_id, c.unread, c.last_message_at, c.created_at,
                       \(activity) AS activity
                FROM conversations c
                WHERE (CASE WHEN $1::bigint IS NULL THEN c.assignee_id IS NULL AND c.campaign_id = $2
                            ELSE c.assignee_id = $1 AND ($2::bigint IS NULL OR c.campaign_id = $2) END)
                  AND ($3::bigint IS NULL OR (\(activity), c.id) < ($3::bigint, $5::bigint))
                  AND ($4::text IS NULL OR true) AND \(filter.condition)
                ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC
                LIMIT $6
            ) c
            JOIN contacts p ON p.campaign_id = c.campaign_id AND p.id = c.id
            LEFT JOIN users u ON u.id = c.assignee_id
            ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC
            """, binds: {
                var binds = PostgresBindings()
                binds.append(userID)
                binds.append(campaignID)
                binds.append(after?.micros)
                binds.append(status)
                binds.append(after?.id)
                binds.append(limit + 1)
                return binds
            }())
        let rows = try await database.query(query)
        let page = try rows.prefix(limit).map(Self.conversationAndPosition(from:))
        let next = rows.count > limit ? page.last.map { Cursor(micros: $0.micros, id: $0.conversation.id).text } : nil
        return Page(conversations: page.map(\.conversation), nextCursor: next)
    }

    /// The counts beside an "Assigned to Me" queue's filters, and the pool's size ("up next": what Request
    /// Conversations can draw on).
    public struct QueueCounts: Sendable, Equatable {
        public let open: Int
        public let needsReply: Int
        public let notStarted: Int
        public let unread: Int
        public let closed: Int
        public let upNext: Int
    }

    /// One pass over the sender's own conversations of the campaign (the by-assignee index), plus the pool's
    /// maintained count.
    public func queueCounts(userID: Int64, campaignID: Int64) async throws -> QueueCounts {
        let rows = try await database.query("""
            SELECT count(*) FILTER (WHERE status NOT IN ('closed', 'opted_out'))::int,
                   count(*) FILTER (WHERE status = 'needs_reply')::int,
                   count(*) FILTER (WHERE status = 'not_started')::int,
                   count(*) FILTER (WHERE unread)::int,
                   count(*) FILTER (WHERE status = 'closed')::int,
                   (SELECT coalesce(sum(n), 0)::int FROM conversation_counts
                    WHERE campaign_id = \(campaignID) AND assignee_id IS NULL AND status = 'not_started')
            FROM conversations WHERE campaign_id = \(campaignID) AND assignee_id = \(userID)
            """)
        let (open, needsReply, notStarted, unread, closed, pool) = try rows[0].decode((Int, Int, Int, Int, Int, Int).self)
        return QueueCounts(open: open, needsReply: needsReply, notStarted: notStarted, unread: unread, closed: closed,
                           upNext: pool)
    }

    /// Every conversation of a campaign as CSV lines (header first), streamed: even never-replied ones, with
    /// status, assignee and message counts.
    public func export(campaignID: Int64, orgID: Int64? = nil, status: ConversationStatus? = nil,
                       filter: ConversationFilter = .init(), line: (String) async throws -> Void) async throws {
        let filter = try filter.validated()
        _ = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        var statement = SQLStatement()
        let campaign = statement.bind(campaignID)
        statement.append("""
            SELECT c.id, p.phone, p.name, c.status, coalesce(u.handle, ''), c.unread,
                   coalesce(to_char(c.last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
                   to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   coalesce(m.inbound, 0), coalesce(m.outbound, 0)
            FROM conversations c
            JOIN contacts p ON p.campaign_id = c.campaign_id AND p.id = c.id
            LEFT JOIN users u ON u.id = c.assignee_id
            LEFT JOIN (
                SELECT conversation_id, count(*) FILTER (WHERE direction = 'inbound') AS inbound,
                       count(*) FILTER (WHERE direction = 'outbound') AS outbound
                FROM messages WHERE campaign_id = \(campaign) GROUP BY conversation_id
            ) m ON m.conversation_id = c.id
            WHERE c.campaign_id = \(campaign)
            """)
        if let status { statement.append(" AND c.status = \(statement.bind(status.rawValue))") }
        filter.conditions(&statement, campaign: campaign, joins: true)
        statement.append(" ORDER BY c.created_at, c.id")
        try await line("id,phone,name,status,assignee,unread,last_message_at,created_at,inbound_messages,outbound_messages")
        let rows = try await database.client.query(statement.query, logger: database.logger)
        for try await (id, phone, name, status, assignee, unread, last, created, inbound, outbound) in rows.decode(
            (Int64, String, String, String, String, Bool, String, String, Int64, Int64).self) {
            try await line([String(id), Self.csvField(phone), Self.csvField(name), status, assignee, unread ? "true" : "false", last, created,
                  String(inbound), String(outbound)].joined(separator: ","))
        }
    }

    /// A CSV cell: quoted when it holds a comma, a quote or a line break (checked scalar by scalar, since CR LF
    /// is one `Character`), and prefixed with `'` when a spreadsheet would run it as a formula (it begins with
    /// `=`, `+`, `-`, `@`, a tab or a CR).
    static func csvField(_ value: String) -> String {
        var value = value
        if let first = value.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            value = "'" + value
        }
        guard value.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return value
        }
        var quoted = String.UnicodeScalarView(["\""])
        for scalar in value.unicodeScalars {
            quoted.append(scalar)
            if scalar == "\"" { quoted.append(scalar) }
        }
        quoted.append("\"")
        return String(quoted)
    }
}
