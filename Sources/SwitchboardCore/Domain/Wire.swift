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
             moved, unchanged, dryRun = "dry_run", perSender = "per_sender", requested, skipped
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
    enum SenderKeys: String, CodingKey { case handle, name, active, available, skills }

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
             routingFallback = "routing_fallback", releaseStaleAfter = "release_stale_after"
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
