import Foundation
import Logging
import PostgresNIO

/// Request approval (wave 3): with `request_approval` on, a texter's Request Conversations is recorded as a pending
/// request (`switchboard_request_more` does it, under the sender's lock, so there is one per sender). Organizers
/// approve it, which grants a batch of kind `request` under the campaign's rules at that moment, or deny it with a
/// note. A request is decided once; one left pending 24 hours expires.
public struct RequestService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    var logger: Logger { database.logger }

    /// How long a request waits for a decision.
    public static let lifetime = "24 hours"

    public enum Status: String, Sendable, Codable, CaseIterable {
        case pending, approved, denied, expired

        public init(parsing text: String) throws(SwitchboardError) {
            guard let status = Status(rawValue: text) else {
                throw .invalid("invalid_status", "Request status '\(text)' is unknown; use pending, approved, denied or expired.")
            }
            self = status
        }
    }

    /// One request as lists and decisions show it.
    public struct Request: Sendable, Equatable, Codable {
        public let id: Int64
        public let campaignID: Int64
        public let sender: String
        /// How many conversations were asked for.
        public let count: Int
        public let status: Status
        public let createdAt: Date
        public let decidedAt: Date?
        public let decidedBy: String?
        public let note: String?
        /// The grant of an approved request.
        public let batchID: Int64?
        public let granted: Int?

        enum CodingKeys: String, CodingKey {
            case id = "request_id", campaignID = "campaign_id", sender, count, status, createdAt = "created_at",
                 decidedAt = "decided_at", decidedBy = "decided_by", note, batchID = "batch_id", granted
        }

        /// Absent values are written as null, as the spec says.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(campaignID, forKey: .campaignID)
            try container.encode(sender, forKey: .sender)
            try container.encode(count, forKey: .count)
            try container.encode(status, forKey: .status)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(decidedAt, forKey: .decidedAt)
            try container.encode(decidedBy, forKey: .decidedBy)
            try container.encode(note, forKey: .note)
            try container.encode(batchID, forKey: .batchID)
            try container.encode(granted, forKey: .granted)
        }
    }

    /// Why a rule refused to grant: the error's code and sentence.
    public struct Refusal: Sendable, Equatable, Codable {
        public let code: String
        public let message: String
    }

    /// What an approval did to each request: granted (approved), or left pending with the rule that refused it.
    public struct Decision: Sendable, Equatable, Codable {
        public let request: Request
        /// Why nothing was granted (the pool is empty, the sender is at the cap…); the request stays pending.
        public let refusal: Refusal?

        public init(request: Request, refusal: Refusal?) {
            self.request = request
            self.refusal = refusal
        }

        enum CodingKeys: String, CodingKey { case refusal = "refused" }

        public init(from decoder: any Decoder) throws {
            request = try Request(from: decoder)
            refusal = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Refusal.self,
                                                                                   forKey: .refusal)
        }

        public func encode(to encoder: any Encoder) throws {
            try request.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(refusal, forKey: .refusal)
        }
    }

    static let columns = """
        r.id, r.campaign_id, u.handle, r.count,
        CASE WHEN r.status = 'pending' AND r.created_at <= now() - interval '24 hours' THEN 'expired' ELSE r.status END,
        r.created_at, r.decided_at, r.decided_by, r.note, r.batch_id, r.granted
        """

    static func request(from row: PostgresRow) throws -> Request {
        let (id, campaign, sender, count, status, created, decidedAt, decidedBy, note, batch, granted) =
            try row.decode((Int64, Int64, String, Int, String, Date, Date?, String?, String?, Int64?, Int?).self)
        return Request(id: id, campaignID: campaign, sender: sender, count: count,
                       status: Status(rawValue: status) ?? .pending, createdAt: created, decidedAt: decidedAt,
                       decidedBy: decidedBy, note: note, batchID: batch, granted: granted)
    }

    /// The campaign's requests, newest first; `status` narrows them.
    public func list(campaignID: Int64, status: Status? = nil, orgID: Int64? = nil, limit: Int = 500) async throws
        -> [Request]
    {
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        return try await database.query("""
            SELECT \(unescaped: Self.columns) FROM assignment_requests r JOIN users u ON u.id = r.user_id
            WHERE r.campaign_id = \(campaign.id)
              AND (\(status?.rawValue)::text IS NULL OR \(status?.rawValue) = CASE
                   WHEN r.status = 'pending' AND r.created_at <= now() - interval '24 hours' THEN 'expired'
                   ELSE r.status END)
            ORDER BY r.id DESC LIMIT \(limit)
            """).map(Self.request(from:))
    }

    /// The user's latest request in the campaign, if any (the messenger shows it while it waits, or its note).
    public func latest(campaignID: Int64, userID: Int64) async throws -> Request? {
        try await database.query("""
            SELECT \(unescaped: Self.columns) FROM assignment_requests r JOIN users u ON u.id = r.user_id
            WHERE r.campaign_id = \(campaignID) AND r.user_id = \(userID) ORDER BY r.id DESC LIMIT 1
            """).first.map(Self.request(from:))
    }

    /// The pending requests of a campaign, oldest first: what "Approve all" decides.
    public func pendingIDs(campaignID: Int64, orgID: Int64? = nil) async throws -> [Int64] {
        try await list(campaignID: campaignID, status: .pending, orgID: orgID).map(\.id).reversed()
    }

    /// Locks the requests (in id order) and checks that each exists and is pending; returns them.
    private func pending(_ ids: [Int64], actor: String, orgID: Int64?, on connection: PostgresConnection) async throws
        -> [(request: Request, userID: Int64, orgID: Int64)]
    {
        guard !ids.isEmpty else {
            throw SwitchboardError.invalid("missing_requests", "Name at least one request id.")
        }
        let rows = try await connection.rows("""
            SELECT \(unescaped: Self.columns), r.user_id, k.org_id
            FROM assignment_requests r JOIN users u ON u.id = r.user_id JOIN campaigns k ON k.id = r.campaign_id
            WHERE r.id = ANY(\(ids)::bigint[]) AND (\(orgID)::bigint IS NULL OR k.org_id = \(orgID))
            ORDER BY r.id FOR UPDATE OF r
            """, logger: logger)
        var found: [Int64: (request: Request, userID: Int64, orgID: Int64)] = [:]
        for row in rows {
            let request = try Self.request(from: row)
            let columns = try row.decode((Int64, Int64, String, Int, String, Date, Date?, String?, String?, Int64?, Int?,
                                          Int64, Int64).self)
            found[request.id] = (request, columns.11, columns.12)
        }
        var seen = Set<Int64>()
        return try ids.filter { seen.insert($0).inserted }.map { id in
            guard let entry = found[id] else {
                throw SwitchboardError.notFound("unknown_request", "Request \(id) does not exist.")
            }
            switch entry.request.status {
            case .pending:
                if entry.request.sender == actor {
                    throw SwitchboardError(.forbidden, "forbidden", "You cannot decide your own request \(id).")
                }
                return entry
            case .expired:
                throw SwitchboardError.conflict("already_decided",
                                                "Request \(id) expired after \(Self.lifetime) without a decision.")
            case .approved, .denied:
                throw SwitchboardError.conflict("already_decided",
                                                "Request \(id) was already \(entry.request.status.rawValue) by \(entry.request.decidedBy ?? "someone").")
            }
        }
    }

    /// Approves requests: each is granted as a batch of kind `request` under the campaign's rules now (pool, cap,
    /// finished batch), `count` (if given) instead of what was asked, and the texter is told. A request the rules
    /// refuse stays pending and says why; when every one is refused, that refusal is the error and nothing changes.
    /// An unknown, decided or expired request refuses the whole call.
    public func approve(_ ids: [Int64], count: Int? = nil, actor: String, orgID: Int64? = nil) async throws -> [Decision] {
        try AssignmentService.validate(actor: actor)
        if let count, !(1...SelfAssignSettings.batchSizeRange.upperBound).contains(count) {
            throw SwitchboardError.invalid("invalid_count", "Count \(count) is out of range; give 1 to 5000 conversations.")
        }
        return try await database.transaction { connection in
            var decisions: [Decision] = []
            var firstRefusal: SwitchboardError?
            for entry in try await pending(ids, actor: actor, orgID: orgID, on: connection) {
                let request = entry.request
                let rows = try await connection.rows(SelfAssignService.claim(
                    request.campaignID, orgID: entry.orgID, request.sender, count ?? request.count, actor, slots: 0,
                    request: request.id), logger: logger)
                do {
                    let grant = try SelfAssignService.grant(from: rows, campaignID: request.campaignID,
                                                            handle: request.sender, count: count ?? request.count)
                    let updated = try await connection.rows("""
                        UPDATE assignment_requests r SET status = 'approved', decided_at = now(), decided_by = \(actor),
                            batch_id = \(grant.result.batchID), granted = \(grant.result.moved)
                        FROM users u WHERE u.id = r.user_id AND r.campaign_id = \(request.campaignID) AND r.id = \(request.id)
                        RETURNING \(unescaped: Self.columns)
                        """, logger: logger)
                    decisions.append(Decision(request: try Self.request(from: updated[0]), refusal: nil))
                } catch let refusal as SwitchboardError {
                    firstRefusal = firstRefusal ?? refusal
                    decisions.append(Decision(request: request, refusal: Refusal(code: refusal.code, message: refusal.message)))
                }
            }
            if let firstRefusal, decisions.allSatisfy({ $0.refusal != nil }) { throw firstRefusal }
            return decisions
        }
    }

    /// Denies requests, with an optional note the texter sees; each texter is told.
    public func deny(_ ids: [Int64], note: String? = nil, actor: String, orgID: Int64? = nil) async throws -> [Request] {
        try AssignmentService.validate(actor: actor)
        let note = try AssignmentService.validate(note: note)
        return try await database.transaction { connection in
            var denied: [Request] = []
            for entry in try await pending(ids, actor: actor, orgID: orgID, on: connection) {
                let rows = try await connection.rows("""
                    UPDATE assignment_requests r SET status = 'denied', decided_at = now(), decided_by = \(actor),
                        note = \(note)
                    FROM users u WHERE u.id = r.user_id AND r.campaign_id = \(entry.request.campaignID)
                      AND r.id = \(entry.request.id)
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                denied.append(try Self.request(from: rows[0]))
                try await connection.query("""
                    SELECT pg_notify(\(Notifications.channel), json_build_object(
                        'org_id', \(entry.orgID), 'campaign_id', \(entry.request.campaignID), 'batch_id', NULL,
                        'kind', 'request_denied', 'user_id', \(entry.userID), 'sender', \(entry.request.sender),
                        'received', 0, 'removed', 0, 'request_id', \(entry.request.id))::text)
                    """, logger: logger)
            }
            return denied
        }
    }
}
