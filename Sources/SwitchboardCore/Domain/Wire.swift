import Foundation

// The JSON shapes of the contract, shared by the CLI's --json output and the HTTP API.

extension JSONEncoder {
    /// Switchboard's JSON: snake_case keys as the contract writes them, ISO 8601 dates, sorted keys.
    public static let switchboard: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}

extension BatchResult: Encodable {
    enum CodingKeys: String, CodingKey {
        case batchID = "batch_id", operation, campaignID = "campaign_id", statusFilter = "status_filter", matched,
             moved, unchanged, dryRun = "dry_run", perSender = "per_sender", requested, skipped,
             removedBySender = "removed_by_sender", previewToken = "preview_token", noLongerMatching = "no_longer_matching"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(batchID, forKey: .batchID)
        try container.encode(operation.rawValue, forKey: .operation)
        try container.encode(campaignID, forKey: .campaignID)
        try container.encode(statusFilter, forKey: .statusFilter)
        try container.encode(matched, forKey: .matched)
        try container.encode(moved, forKey: .moved)
        try container.encode(unchanged, forKey: .unchanged)
        try container.encode(dryRun, forKey: .dryRun)
        try container.encode(perSender, forKey: .perSender)
        try container.encodeIfPresent(requested, forKey: .requested)
        try container.encodeIfPresent(skipped, forKey: .skipped)
        // A preview also says whom it would take from (handle → count), so a plan of several steps can be added up.
        if dryRun { try container.encode(removedBySender, forKey: .removedBySender) }
        try container.encodeIfPresent(previewToken, forKey: .previewToken)
        try container.encodeIfPresent(noLongerMatching, forKey: .noLongerMatching)
    }
}

extension StatusCounts: Encodable {
    enum CodingKeys: String, CodingKey {
        case total, notStarted = "not_started", needsReply = "needs_reply", waiting, closed, optedOut = "opted_out"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(total, forKey: .total)
        try container.encode(self[.notStarted], forKey: .notStarted)
        try container.encode(self[.needsReply], forKey: .needsReply)
        try container.encode(self[.waiting], forKey: .waiting)
        try container.encode(self[.closed], forKey: .closed)
        try container.encode(self[.optedOut], forKey: .optedOut)
    }
}

extension SenderList: Encodable {
    enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", senders, unassigned, routingBacklog = "routing_backlog" }
    enum SenderKeys: String, CodingKey {
        case handle, name, active, available, skills, oldestNeedsReply = "oldest_needs_reply_s"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(campaignID, forKey: .campaignID)
        var list = container.nestedUnkeyedContainer(forKey: .senders)
        for sender in senders {
            // Flatten: identity fields next to the counts, as the contract shows.
            try list.encode(FlatSender(sender: sender))
        }
        try container.encode(unassigned, forKey: .unassigned)
        // The replies nobody owns (routing's backlog).
        try container.encode(unassigned[.needsReply], forKey: .routingBacklog)
    }

    private struct FlatSender: Encodable {
        let sender: SenderCounts
        func encode(to encoder: any Encoder) throws {
            try sender.counts.encode(to: encoder)
            var container = encoder.container(keyedBy: SenderKeys.self)
            try container.encode(sender.handle, forKey: .handle)
            try container.encode(sender.name, forKey: .name)
            try container.encode(sender.active, forKey: .active)
            try container.encode(sender.available, forKey: .available)
            try container.encode(sender.skills, forKey: .skills)
            try container.encode(sender.oldestNeedsReplySeconds, forKey: .oldestNeedsReply)
        }
    }
}

extension Conversation: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, campaignID = "campaign_id", phone, name, status, assignee, unread,
             lastMessageAt = "last_message_at", createdAt = "created_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(campaignID, forKey: .campaignID)
        try container.encode(phone, forKey: .phone)
        try container.encode(name, forKey: .name)
        try container.encode(status.rawValue, forKey: .status)
        try container.encode(assignee, forKey: .assignee)
        try container.encode(unread, forKey: .unread)
        try container.encode(lastMessageAt, forKey: .lastMessageAt)
        try container.encode(createdAt, forKey: .createdAt)
    }
}

extension Campaign: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, orgID = "org_id", name, selfAssign = "self_assign", batchSize = "batch_size", maxOpen = "max_open",
             requireFinishedBatch = "require_finished_batch", createdAt = "created_at", routingPolicy = "routing_policy",
             routingFallback = "routing_fallback", releaseStaleAfter = "release_stale_after",
             requestApproval = "request_approval", teams, routingTeam = "routing_team"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(orgID, forKey: .orgID)
        try container.encode(name, forKey: .name)
        try container.encode(settings.selfAssign, forKey: .selfAssign)
        try container.encode(settings.batchSize, forKey: .batchSize)
        try container.encode(settings.maxOpen, forKey: .maxOpen)
        try container.encode(settings.requireFinishedBatch, forKey: .requireFinishedBatch)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(routing.policy.rawValue, forKey: .routingPolicy)
        try container.encode(routing.fallback.rawValue, forKey: .routingFallback)
        try container.encode(routing.releaseStaleAfter, forKey: .releaseStaleAfter)
        try container.encode(requestApproval, forKey: .requestApproval)
        try container.encode(teams, forKey: .teams)
        try container.encode(routingTeam, forKey: .routingTeam)
    }
}

extension RoutingService.Backlog: Encodable {
    enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", policy, count, conversations }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(campaignID, forKey: .campaignID)
        try container.encode(policy.rawValue, forKey: .policy)
        try container.encode(count, forKey: .count)
        try container.encode(conversations, forKey: .conversations)
    }
}

extension SwitchboardError: Encodable {
    enum CodingKeys: String, CodingKey { case error }
    enum BodyKeys: String, CodingKey { case code, message }

    /// `{"error": {"code": …, "message": …}}`
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var body = container.nestedContainer(keyedBy: BodyKeys.self, forKey: .error)
        try body.encode(code, forKey: .code)
        try body.encode(message, forKey: .message)
    }
}

// Reading the same shapes back: the CLI in remote mode receives them from the API (issue 22).

extension JSONDecoder {
    /// Reads what `JSONEncoder.switchboard` writes.
    public static let switchboard: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            let formatter = ISO8601DateFormatter()
            if let date = formatter.date(from: text) { return date }
            formatter.formatOptions.insert(.withFractionalSeconds)
            if let date = formatter.date(from: text) { return date }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "Date '\(text)'"))
        }
        return decoder
    }()
}

extension BatchResult: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let operation = try container.decode(String.self, forKey: .operation)
        guard let kind = BatchKind(rawValue: operation) else {
            throw DecodingError.dataCorruptedError(forKey: .operation, in: container,
                                                   debugDescription: "Operation '\(operation)' is unknown.")
        }
        self.init(batchID: try container.decodeIfPresent(Int64.self, forKey: .batchID), operation: kind,
                  campaignID: try container.decode(Int64.self, forKey: .campaignID),
                  statusFilter: try container.decode(String.self, forKey: .statusFilter),
                  matched: try container.decode(Int.self, forKey: .matched),
                  moved: try container.decode(Int.self, forKey: .moved),
                  unchanged: try container.decode(Int.self, forKey: .unchanged),
                  dryRun: try container.decode(Bool.self, forKey: .dryRun),
                  perSender: try container.decode([SenderReceipt].self, forKey: .perSender),
                  requested: try container.decodeIfPresent(Int.self, forKey: .requested),
                  skipped: try container.decodeIfPresent(Int.self, forKey: .skipped))
        removedBySender = try container.decodeIfPresent([String: Int].self, forKey: .removedBySender) ?? [:]
        previewToken = try container.decodeIfPresent(String.self, forKey: .previewToken)
        noLongerMatching = try container.decodeIfPresent(Int.self, forKey: .noLongerMatching)
    }
}

extension StatusCounts: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init([
            .notStarted: try container.decode(Int.self, forKey: .notStarted),
            .needsReply: try container.decode(Int.self, forKey: .needsReply),
            .waiting: try container.decode(Int.self, forKey: .waiting),
            .closed: try container.decode(Int.self, forKey: .closed),
            .optedOut: try container.decode(Int.self, forKey: .optedOut),
        ])
    }
}

extension SenderList: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var list = try container.nestedUnkeyedContainer(forKey: .senders)
        var senders: [SenderCounts] = []
        while !list.isAtEnd {
            let sender = try list.superDecoder()
            let keys = try sender.container(keyedBy: SenderKeys.self)
            senders.append(SenderCounts(
                handle: try keys.decode(String.self, forKey: .handle), name: try keys.decode(String.self, forKey: .name),
                active: try keys.decode(Bool.self, forKey: .active),
                available: try keys.decodeIfPresent(Bool.self, forKey: .available) ?? true,
                skills: try keys.decodeIfPresent([String].self, forKey: .skills) ?? [],
                counts: try StatusCounts(from: sender),
                oldestNeedsReplySeconds: try keys.decodeIfPresent(Int.self, forKey: .oldestNeedsReply)))
        }
        self.init(campaignID: try container.decode(Int64.self, forKey: .campaignID), senders: senders,
                  unassigned: try container.decode(StatusCounts.self, forKey: .unassigned))
    }
}

extension Conversation: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let status = try container.decode(String.self, forKey: .status)
        guard let parsed = ConversationStatus(rawValue: status) else {
            throw DecodingError.dataCorruptedError(forKey: .status, in: container, debugDescription: "Status '\(status)'.")
        }
        self.init(id: try container.decode(Int64.self, forKey: .id),
                  campaignID: try container.decode(Int64.self, forKey: .campaignID),
                  phone: try container.decode(String.self, forKey: .phone), name: try container.decode(String.self, forKey: .name),
                  status: parsed, assignee: try container.decodeIfPresent(String.self, forKey: .assignee),
                  unread: try container.decode(Bool.self, forKey: .unread),
                  lastMessageAt: try container.decodeIfPresent(Date.self, forKey: .lastMessageAt),
                  createdAt: try container.decode(Date.self, forKey: .createdAt))
    }
}

extension Campaign: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let settings = SelfAssignSettings(
            selfAssign: try container.decode(Bool.self, forKey: .selfAssign),
            batchSize: try container.decode(Int.self, forKey: .batchSize),
            maxOpen: try container.decodeIfPresent(Int.self, forKey: .maxOpen),
            requireFinishedBatch: try container.decode(Bool.self, forKey: .requireFinishedBatch))
        self.init(id: try container.decode(Int64.self, forKey: .id), orgID: try container.decode(Int64.self, forKey: .orgID),
                  name: try container.decode(String.self, forKey: .name), settings: settings,
                  createdAt: try container.decode(Date.self, forKey: .createdAt),
                  routing: RoutingSettings(
                      policy: try RoutingPolicy(parsing: container.decode(String.self, forKey: .routingPolicy)),
                      fallback: try RoutingPolicy(parsing: container.decode(String.self, forKey: .routingFallback)),
                      releaseStaleAfter: try container.decodeIfPresent(Int.self, forKey: .releaseStaleAfter)))
        requestApproval = try container.decodeIfPresent(Bool.self, forKey: .requestApproval) ?? false
        teams = try container.decodeIfPresent([String].self, forKey: .teams) ?? []
        routingTeam = try container.decodeIfPresent(String.self, forKey: .routingTeam)
    }
}

extension RoutingService.Backlog: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(campaignID: try container.decode(Int64.self, forKey: .campaignID),
                  policy: try RoutingPolicy(parsing: container.decode(String.self, forKey: .policy)),
                  count: try container.decode(Int.self, forKey: .count),
                  conversations: try container.decode([Conversation].self, forKey: .conversations))
    }
}


extension SwitchboardError {
    /// The API's error body, `{"error": {"code", "message"}}`, with the kind its HTTP status stands for.
    public init?(body: Data, status: Int) {
        struct Body: Decodable { struct Inner: Decodable { let code: String; let message: String }; let error: Inner }
        guard let decoded = try? JSONDecoder().decode(Body.self, from: body) else { return nil }
        let kind: Kind = switch status {
        case 400, 422: .invalid
        case 404: .notFound
        case 401: .unauthorized
        case 403: .forbidden
        case 409: .conflict
        case 429: .throttled
        default: status < 500 ? .refused : .unavailable
        }
        self.init(kind, decoded.error.code, decoded.error.message)
    }
}

/// `GET /v1/me`: whom a token signs in as (what `switchboard login` shows).
public struct Identity: Sendable, Codable, Equatable {
    public let handle: String
    public let name: String
    public let role: String
    public let org_id: Int64
    public let organization: String

    public init(user: User, organization org: Organization) {
        handle = user.handle
        name = user.name
        role = user.role.rawValue
        org_id = org.id
        organization = org.name
    }
}

extension User {
    enum CodingKeys: String, CodingKey { case id, orgID = "org_id", handle, name, role, active }
}

/// A user in a list: `user list --json`, `GET /v1/users`.
extension Directory.Member: Codable {
    enum CodingKeys: String, CodingKey {
        case hasPassword = "has_password", liveTokens = "live_tokens", autoApprove = "auto_approve"
    }

    public func encode(to encoder: any Encoder) throws {
        try user.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hasPassword, forKey: .hasPassword)
        try container.encode(liveTokens, forKey: .liveTokens)
        try container.encode(autoApprove, forKey: .autoApprove)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(user: try User(from: decoder), hasPassword: try container.decode(Bool.self, forKey: .hasPassword),
                  liveTokens: try container.decode(Int.self, forKey: .liveTokens),
                  autoApprove: try container.decodeIfPresent(Bool.self, forKey: .autoApprove) ?? false)
    }
}

/// An invite link in a list: `campaign invite --list --json`, `GET /v1/campaigns/{id}/invites`.
extension InviteService.Invite: Codable {
    enum CodingKeys: String, CodingKey {
        case id, campaignID = "campaign_id", createdBy = "created_by", createdAt = "created_at",
             expiresAt = "expires_at", revokedAt = "revoked_at", joined, live
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(campaignID, forKey: .campaignID)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(revokedAt, forKey: .revokedAt)
        try container.encode(joined, forKey: .joined)
        try container.encode(isLive, forKey: .live)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try container.decode(Int64.self, forKey: .id),
                  campaignID: try container.decode(Int64.self, forKey: .campaignID),
                  createdBy: try container.decode(String.self, forKey: .createdBy),
                  createdAt: try container.decode(Date.self, forKey: .createdAt),
                  expiresAt: try container.decode(Date.self, forKey: .expiresAt),
                  revokedAt: try container.decodeIfPresent(Date.self, forKey: .revokedAt),
                  joined: try container.decode(Int.self, forKey: .joined))
    }
}

/// A list as every `--json` list and list route prints it: `{"<plural noun>": [...]}`.
public struct Listing<Item: Codable & Sendable>: Codable, Sendable {
    public let key: String
    public let items: [Item]

    public init(_ key: String, _ items: [Item]) {
        self.key = key
        self.items = items
    }

    struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(items, forKey: Key(stringValue: key))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        guard let key = container.allKeys.first, container.allKeys.count == 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "A list is an object with one key."))
        }
        self.key = key.stringValue
        self.items = try container.decode([Item].self, forKey: key)
    }
}
