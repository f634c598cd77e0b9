import Crypto
import Foundation
import PostgresNIO

/// A point in time as a filter names it: an ISO 8601 time, or an age (`30m`, `6h`, `2d`) counted back from the
/// database's clock when the statement runs. Written back as it was given, so a preview and its run bind the
/// same words.
public enum When: Sendable, Equatable, Codable, CustomStringConvertible {
    case at(Date)
    case ago(seconds: Int, text: String)

    /// `field` names the value in the error (`--last-message-before`, say).
    public init(parsing text: String, field: String) throws(SwitchboardError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let last = trimmed.last, "mhd".contains(last), trimmed.dropLast().allSatisfy(\.isNumber) {
            self = .ago(seconds: try Age.seconds(parsing: trimmed, field: field), text: trimmed)
            return
        }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: trimmed) {
                self = .at(date)
                return
            }
        }
        throw SwitchboardError(.invalid, "invalid_time",
                               "The time '\(text)' (\(field)) is neither an ISO 8601 time (2026-12-07T14:00:00Z) nor an age (30m, 6h, 2d).")
    }

    public var description: String {
        switch self {
        case .at(let date): date.formatted(.iso8601)
        case .ago(_, let text): text
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try When(parsing: text, field: "time")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The SQL expression for this time.
    func sql(_ statement: inout SQLStatement) -> String {
        switch self {
        case .at(let date): "\(statement.bind(date))::timestamptz"
        case .ago(let seconds, _): "(now() - make_interval(secs => \(statement.bind(seconds))))"
        }
    }
}

/// Which of a campaign's conversations an operation or a list takes, beyond its source and status: every
/// filter narrows (contract, *Selection*). Empty selects everything.
public struct ConversationFilter: Sendable, Equatable, Codable {
    /// Has every one of these tags.
    public var tags: [String] = []
    /// Has none of these tags.
    public var withoutTags: [String] = []
    /// Its last message (either direction) is older than this; a conversation with no message never matches.
    public var lastMessageBefore: When?
    /// Its last message is newer than this.
    public var lastMessageAfter: When?
    /// The contact's imported field equals the value exactly.
    public var fields: [String: String] = [:]
    /// The contact's name or phone contains this, case-insensitively.
    public var search: String?
    /// Hand-picked conversations: only these (they must belong to the campaign).
    public var conversationIDs: [Int64]?

    public init(tags: [String] = [], withoutTags: [String] = [], lastMessageBefore: When? = nil,
                lastMessageAfter: When? = nil, fields: [String: String] = [:], search: String? = nil,
                conversationIDs: [Int64]? = nil) {
        self.tags = tags
        self.withoutTags = withoutTags
        self.lastMessageBefore = lastMessageBefore
        self.lastMessageAfter = lastMessageAfter
        self.fields = fields
        self.search = search
        self.conversationIDs = conversationIDs
    }

    enum CodingKeys: String, CodingKey {
        case tags, withoutTags = "without_tags", lastMessageBefore = "last_message_before",
             lastMessageAfter = "last_message_after", fields, search, conversationIDs = "conversation_ids"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tags = try container.decodeIfPresent([String].self, forKey: .tags) ?? []
        withoutTags = try container.decodeIfPresent([String].self, forKey: .withoutTags) ?? []
        lastMessageBefore = try container.decodeIfPresent(When.self, forKey: .lastMessageBefore)
        lastMessageAfter = try container.decodeIfPresent(When.self, forKey: .lastMessageAfter)
        fields = try container.decodeIfPresent([String: String].self, forKey: .fields) ?? [:]
        search = try container.decodeIfPresent(String.self, forKey: .search)
        conversationIDs = try container.decodeIfPresent([Int64].self, forKey: .conversationIDs)
    }

    /// Only what narrows: an empty filter is `{}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if !tags.isEmpty { try container.encode(tags, forKey: .tags) }
        if !withoutTags.isEmpty { try container.encode(withoutTags, forKey: .withoutTags) }
        try container.encodeIfPresent(lastMessageBefore, forKey: .lastMessageBefore)
        try container.encodeIfPresent(lastMessageAfter, forKey: .lastMessageAfter)
        if !fields.isEmpty { try container.encode(fields, forKey: .fields) }
        try container.encodeIfPresent(search, forKey: .search)
        try container.encodeIfPresent(conversationIDs, forKey: .conversationIDs)
    }

    /// Reads a filter as the CLI and query strings write it: each value as typed (`--field county=Kent`,
    /// `--conversations 4,8,15`), every malformed one named.
    public init(tags: [String], withoutTags: [String], lastMessageBefore: String?, lastMessageAfter: String?,
                fields: [String], search: String?, conversations: String?) throws(SwitchboardError) {
        self.init(tags: tags, withoutTags: withoutTags, search: search)
        self.lastMessageBefore = try lastMessageBefore.map { text throws(SwitchboardError) in
            try When(parsing: text, field: "last-message-before")
        }
        self.lastMessageAfter = try lastMessageAfter.map { text throws(SwitchboardError) in
            try When(parsing: text, field: "last-message-after")
        }
        for pair in fields {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw .invalid("invalid_field_filter", "Field filter '\(pair)' is not KEY=VALUE.")
            }
            self.fields[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        self.conversationIDs = try conversations.map { text throws(SwitchboardError) in try Self.ids(parsing: text) }
    }

    /// Conversation ids separated by commas, spaces or line breaks (a file of one id per line reads the same).
    public static func ids(parsing text: String) throws(SwitchboardError) -> [Int64] {
        var ids: [Int64] = []
        for word in text.split(whereSeparator: { $0 == "," || $0.isWhitespace }) {
            guard let id = Int64(word), id > 0 else {
                throw .invalid("invalid_conversations", "Conversation id '\(word)' is not a whole number from 1.")
            }
            ids.append(id)
        }
        return ids
    }

    public var isEmpty: Bool { self == ConversationFilter() }

    public static let maximumTerms = 20
    public static let maximumPicked = 100_000

    /// The filter with tags lower-cased and every value checked: a malformed tag, an empty field name, a value
    /// with NUL or too long, too many terms. A tag or field nobody has is not an error; it matches nothing.
    public func validated() throws(SwitchboardError) -> ConversationFilter {
        var checked = self
        checked.tags = try tags.map { tag throws(SwitchboardError) in try RoutingService.validate(tag: tag, kind: "tag") }
        checked.withoutTags = try withoutTags.map { tag throws(SwitchboardError) in
            try RoutingService.validate(tag: tag, kind: "tag")
        }
        guard tags.count + withoutTags.count <= Self.maximumTerms, fields.count <= Self.maximumTerms else {
            throw .invalid("too_many_filters", "A filter takes at most \(Self.maximumTerms) tags and \(Self.maximumTerms) fields.")
        }
        for (key, value) in fields {
            try Text.check(key, field: "field name", maximum: 200)
            try Text.check(value, field: "value of field '\(key)'", maximum: 1000)
            guard !key.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw .invalid("invalid_field_filter", "A field filter needs a name before '=' (got '=\(value)').")
            }
        }
        if let search {
            try Text.check(search, field: "search", maximum: 200)
            checked.search = search.trimmingCharacters(in: .whitespaces)
            if checked.search?.isEmpty == true { checked.search = nil }
        }
        if let ids = conversationIDs {
            guard !ids.isEmpty else {
                throw .invalid("invalid_conversations", "The hand-picked conversation list is empty; pick at least one.")
            }
            guard ids.count <= Self.maximumPicked else {
                throw .invalid("invalid_conversations",
                               "\(ids.count) conversations were picked by hand; at most \(Self.maximumPicked) can be.")
            }
            if let bad = ids.first(where: { $0 < 1 }) {
                throw .invalid("invalid_conversations", "Conversation id \(bad) is invalid; ids are whole numbers from 1.")
            }
            checked.conversationIDs = Array(Set(ids)).sorted()
        }
        return checked
    }

    /// Appends ` AND …` conditions over `conversations c`, whose campaign is the bound `campaign`.
    ///
    /// For a move (`joins` false), tags and contacts are gathered once into a multirange of ids (an
    /// uncorrelated subquery: an InitPlan), and each conversation is tested against it by binary search. This
    /// keeps every condition on the scan of `conversations` itself: a semi-join would let the scan evaluate a
    /// move's target expression, whose guard raises, on rows the join would later drop. Lists, counts, exports
    /// and tagging have no such expression (`joins` true): they use EXISTS, so that PostgreSQL can probe the
    /// tags' and contacts' keys for a sender's few hundred rows instead of gathering a campaign's worth.
    /// Nothing comes back to Swift.
    func conditions(_ statement: inout SQLStatement, campaign: String, joins: Bool = false) {
        func ids(_ select: String) -> String {
            "(SELECT coalesce(range_agg(int8range(x.id, x.id, '[]')), '{}'::int8multirange) FROM (\(select)) x)"
        }
        let wanted = Array(Set(tags)).sorted()
        if joins {
            for tag in wanted {
                statement.append("""
                     AND EXISTS (SELECT 1 FROM conversation_tags ft WHERE ft.campaign_id = c.campaign_id
                                 AND ft.conversation_id = c.id AND ft.tag = \(statement.bind(tag)))
                    """)
            }
            if !withoutTags.isEmpty {
                statement.append("""
                     AND NOT EXISTS (SELECT 1 FROM conversation_tags ft WHERE ft.campaign_id = c.campaign_id
                                     AND ft.conversation_id = c.id AND ft.tag = ANY(\(statement.bind(withoutTags))::text[]))
                    """)
            }
        } else {
            if wanted.count == 1 {
                statement.append("""
                     AND c.id <@ \(ids("""
                        SELECT t.conversation_id AS id FROM conversation_tags t
                        WHERE t.campaign_id = \(campaign) AND t.tag = \(statement.bind(wanted[0]))
                        """))
                    """)
            } else if !wanted.isEmpty {
                // Has every tag: the conversation's rows among the wanted tags number as many as the tags.
                statement.append("""
                     AND c.id <@ \(ids("""
                        SELECT t.conversation_id AS id FROM conversation_tags t
                        WHERE t.campaign_id = \(campaign) AND t.tag = ANY(\(statement.bind(wanted))::text[])
                        GROUP BY t.conversation_id HAVING count(*) = \(statement.bind(wanted.count))
                        """))
                    """)
            }
            if !withoutTags.isEmpty {
                statement.append("""
                     AND NOT c.id <@ \(ids("""
                        SELECT t.conversation_id AS id FROM conversation_tags t
                        WHERE t.campaign_id = \(campaign) AND t.tag = ANY(\(statement.bind(withoutTags))::text[])
                        """))
                    """)
            }
        }
        if let lastMessageBefore { statement.append(" AND c.last_message_at < \(lastMessageBefore.sql(&statement))") }
        if let lastMessageAfter { statement.append(" AND c.last_message_at > \(lastMessageAfter.sql(&statement))") }
        if !fields.isEmpty || search != nil {
            var contacts = ""
            if !fields.isEmpty {
                let object = String(decoding: (try? JSONEncoder.sorted.encode(fields)) ?? Data("{}".utf8), as: UTF8.self)
                contacts += " AND p.fields @> \(statement.bind(object))::jsonb"
            }
            if let search {
                let pattern = "%" + Self.likeEscaped(search) + "%"
                // Phones are searched when the text reads as (part of) a phone number: digits, with spaces, dots,
                // dashes, parentheses or a leading +.
                let digits = search.filter(\.isNumber)
                let phoneLike = !digits.isEmpty && search.allSatisfy { $0.isNumber || " +-.()".contains($0) }
                contacts += " AND (p.name ILIKE \(statement.bind(pattern))"
                if phoneLike { contacts += " OR p.phone LIKE \(statement.bind("%" + digits + "%"))" }
                contacts += ")"
            }
            if joins {
                statement.append(" AND EXISTS (SELECT 1 FROM contacts p WHERE p.campaign_id = c.campaign_id AND p.id = c.id\(contacts))")
            } else {
                statement.append(" AND c.id <@ \(ids("SELECT p.id FROM contacts p WHERE p.campaign_id = \(campaign)\(contacts)"))")
            }
        }
        if let conversationIDs {
            // A short list uses the primary key; a long one is hashed (the statement is planned with its values).
            statement.append(" AND c.id = ANY(\(statement.bind(conversationIDs))::bigint[])")
        }
    }

    static func likeEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
    }

    /// The hand-picked ids must all be the campaign's: the first that is not is named, and nothing changes.
    func checkPicked(campaignID: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        guard let conversationIDs else { return }
        let rows = try await connection.rows("""
            SELECT id FROM unnest(\(conversationIDs)::bigint[]) AS picked(id)
            WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.campaign_id = \(campaignID) AND c.id = picked.id)
            ORDER BY id LIMIT 1
            """, logger: logger)
        if let row = rows.first {
            let id = try row.decode(Int64.self)
            throw SwitchboardError.invalid("unknown_conversation",
                                           "Conversation \(id) is not in campaign \(campaignID); nothing was changed.")
        }
    }

    /// How history shows the filter: `tag=vip, without-tag=spanish, …`; nil when nothing narrows.
    public var summary: String? {
        var parts: [String] = []
        parts += tags.map { "tag=\($0)" }
        parts += withoutTags.map { "without-tag=\($0)" }
        if let lastMessageBefore { parts.append("last-message-before=\(lastMessageBefore)") }
        if let lastMessageAfter { parts.append("last-message-after=\(lastMessageAfter)") }
        parts += fields.sorted(by: { $0.key < $1.key }).map { "field \($0.key)=\($0.value)" }
        if let search { parts.append("search=\(search)") }
        if let conversationIDs { parts.append("\(conversationIDs.count) hand-picked") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}
