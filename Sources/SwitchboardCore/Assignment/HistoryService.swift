import Foundation
import PostgresNIO

/// The audit trail: every batch, and every conversation each batch moved.
public struct HistoryService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public struct Batch: Sendable, Equatable, Codable {
        public let id: Int64
        public let campaignID: Int64
        public let kind: String
        public let actor: String
        public let statusFilter: String
        public let parameters: [String: String]
        public let matched: Int
        public let moved: Int
        public let unchanged: Int
        public let undoes: Int64?
        public let undoneBy: Int64?
        public let createdAt: Date
        /// What the organizer wrote about it (at most 500 characters).
        public var note: String? = nil

        enum CodingKeys: String, CodingKey {
            case id, campaignID = "campaign_id", kind, actor, statusFilter = "status_filter", parameters, matched, moved,
                 unchanged, undoes = "undoes_batch_id", undoneBy = "undone_by_batch_id", createdAt = "created_at", note
        }
    }

    /// One conversation's move within a batch.
    public struct Change: Sendable, Equatable, Codable {
        public let batchID: Int64
        public let conversationID: Int64
        public let from: String?
        public let to: String?
        public let kind: String
        public let actor: String
        public let at: Date

        enum CodingKeys: String, CodingKey {
            case batchID = "batch_id", conversationID = "conversation_id", from, to, kind, actor, at
        }
    }

    /// `switchboard history --batch` and `GET /v1/batches/{id}/changes`: a batch and its moves.
    public struct BatchChanges: Sendable, Codable {
        public let batch: Batch
        public let changes: [Change]
        public init(batch: Batch, changes: [Change]) { self.batch = batch; self.changes = changes }
    }

    /// `history --conversation` and `GET /v1/conversations/{id}/history`: every move of one conversation.
    public struct ConversationHistory: Sendable, Codable {
        public let conversation_id: Int64
        public let changes: [Change]
        public init(conversation_id: Int64, changes: [Change]) { self.conversation_id = conversation_id; self.changes = changes }
    }

    /// `history --campaign` and `GET /v1/campaigns/{id}/history`: a campaign's batches, newest first.
    public struct CampaignHistory: Sendable, Codable {
        public let campaign_id: Int64
        public let batches: [Batch]
        public init(campaign_id: Int64, batches: [Batch]) { self.campaign_id = campaign_id; self.batches = batches }
    }

    static let batchColumns = """
        b.id, b.campaign_id, b.kind, b.actor, b.status_filter, b.parameters::text, b.matched, b.moved, b.unchanged,
        b.undoes_batch_id, (SELECT u.id FROM assignment_batches u WHERE u.campaign_id = b.campaign_id AND u.undoes_batch_id = b.id), b.created_at,
        b.note
        """

    static func batch(from row: PostgresRow) throws -> Batch {
        let (id, campaignID, kind, actor, filter, parameters, matched, moved, unchanged, undoes, undoneBy, createdAt, note) =
            try row.decode((Int64, Int64, String, String, String, String, Int, Int, Int, Int64?, Int64?, Date, String?).self)
        let decoded = (try? JSONDecoder().decode([String: String].self, from: Data(parameters.utf8))) ?? [:]
        return Batch(id: id, campaignID: campaignID, kind: kind, actor: actor, statusFilter: filter, parameters: decoded,
                     matched: matched, moved: moved, unchanged: unchanged, undoes: undoes, undoneBy: undoneBy,
                     createdAt: createdAt, note: note)
    }

    public func batch(id: Int64, orgID: Int64? = nil) async throws -> Batch {
        let rows = try await database.query("""
            SELECT \(unescaped: Self.batchColumns) FROM assignment_batches b JOIN campaigns k ON k.id = b.campaign_id
            WHERE b.id = \(id) AND (\(orgID)::bigint IS NULL OR k.org_id = \(orgID))
            """)
        guard let row = rows.first else {
            throw SwitchboardError.notFound("unknown_batch", "Batch \(id) does not exist.")
        }
        return try Self.batch(from: row)
    }

    /// A batch's moves, by conversation id: the first `limit` after conversation `after`.
    public func changes(batchID: Int64, limit: Int = 1000, after: Int64? = nil, orgID: Int64? = nil) async throws
        -> [Change] {
        try Self.validate(limit: limit)
        let batch = try await batch(id: batchID, orgID: orgID)
        let rows = try await database.query("""
            SELECT ch.batch_id, ch.conversation_id, f.handle, t.handle, \(batch.kind), \(batch.actor), \(batch.createdAt)
            FROM assignment_changes ch
            LEFT JOIN users f ON f.id = ch.from_assignee_id
            LEFT JOIN users t ON t.id = ch.to_assignee_id
            WHERE ch.campaign_id = \(batch.campaignID) AND ch.batch_id = \(batchID)
              AND ch.conversation_id > \(after ?? 0)
            ORDER BY ch.conversation_id LIMIT \(limit)
            """)
        return try rows.map(Self.change(from:))
    }

    /// Every move of one conversation, oldest first: history is indexed by batch only (cheap to write in bulk), so
    /// this looks the conversation up in each batch of its campaign: one index probe per batch, then only the runs
    /// whose id range holds the conversation are unpacked.
    public func conversation(id: Int64, orgID: Int64? = nil) async throws -> [Change] {
        let conversation = try await ConversationService(database).conversation(id: id, orgID: orgID)
        let rows = try await database.query("""
            SELECT ch.batch_id, ch.conversation_id, f.handle, t.handle, b.kind, b.actor, b.created_at
            FROM assignment_batches b
            CROSS JOIN LATERAL (
                SELECT m.batch_id, c.conversation_id, c.from_assignee_id, m.to_assignee_id FROM assignment_moves m
                CROSS JOIN LATERAL unnest(m.conversation_ids, m.from_assignee_ids) AS c (conversation_id, from_assignee_id)
                WHERE m.campaign_id = b.campaign_id AND m.batch_id = b.id
                  AND m.first_conversation_id BETWEEN switchboard_history_run_first(\(id)) AND \(id)
                  AND m.last_conversation_id >= \(id) AND c.conversation_id = \(id)
                OFFSET 0 -- keeps the probe per batch; flattened, the planner scans the whole history instead
            ) ch
            LEFT JOIN users f ON f.id = ch.from_assignee_id
            LEFT JOIN users t ON t.id = ch.to_assignee_id
            WHERE b.campaign_id = \(conversation.campaignID)
            ORDER BY b.effect_seq
            """)
        return try rows.map(Self.change(from:))
    }

    /// A campaign's batches, newest first; with `before`, those older than that batch.
    public func campaign(id: Int64, limit: Int = 100, before: Int64? = nil, orgID: Int64? = nil) async throws -> [Batch] {
        try Self.validate(limit: limit)
        _ = try await CampaignService(database).campaign(id: id, orgID: orgID)
        let rows = try await database.query("""
            SELECT \(unescaped: Self.batchColumns) FROM assignment_batches b
            WHERE b.campaign_id = \(id) AND b.id < \(before ?? Int64.max) ORDER BY b.id DESC LIMIT \(limit)
            """)
        return try rows.map(Self.batch(from:))
    }

    /// History is read in pages of 1 to 10,000 rows.
    static func validate(limit: Int) throws(SwitchboardError) {
        guard (1...10_000).contains(limit) else {
            throw .invalid("invalid_limit", "Limit \(limit) is out of range; it must be from 1 to 10000.")
        }
    }

    /// The statement that records the moves of a CTE `source` with columns (id, from_id, to_id) as history: one
    /// row per target and block of 1,000 conversation ids (migration 0005). `campaign` and `batch` are SQL
    /// expressions: bind placeholders or integers. Both arrays are filled by one aggregation, so they line up.
    static func recordMoves(from source: String, campaign: String, batch: String) -> String {
        """
        INSERT INTO assignment_moves (campaign_id, batch_id, to_assignee_id, first_conversation_id, last_conversation_id,
                                      conversation_ids, from_assignee_ids)
        SELECT \(campaign), \(batch), to_id, min(id), max(id), array_agg(id), array_agg(from_id)
        FROM \(source) GROUP BY to_id, switchboard_history_run(id)
        """
    }

    static func change(from row: PostgresRow) throws -> Change {
        let (batchID, conversationID, from, to, kind, actor, at) =
            try row.decode((Int64, Int64, String?, String?, String, String, Date).self)
        return Change(batchID: batchID, conversationID: conversationID, from: from, to: to, kind: kind, actor: actor,
                      at: at)
    }
}
