import Foundation
import Hummingbird
import SwitchboardCore

/// Single conversations, the caller's queue, batches, and live events.
struct ConversationRoutes {
    let database: Database
    let idempotency: Idempotency
    let hub: EventHub
    /// Heartbeat, per-user limit and idle end of event streams.
    var streams = StreamLimits()

    func add(to group: RouterGroup<AppRequestContext>) {
        group.put("conversations/:id/assignee", use: assign)
        group.delete("conversations/:id/assignee", use: unassign)
        group.post("conversations/:id/messages", use: message)
        group.post("conversations/:id/close", use: close)
        group.post("conversations/:id/read", use: markRead)
        group.get("me", use: me)
        group.get("me/conversations", use: myConversations)
        group.get("me/events", use: events)
        group.get("batches/:id", use: batch)
        group.post("batches/:id/undo", use: undo)
    }

    /// A conversation of the caller's organization (404 otherwise) on which the caller may do `action` (Core's
    /// `Access` rules: managers any; texters their own, and unassigned ones except to close them).
    func conversation(_ context: AppRequestContext, to action: Access.Action) async throws -> (Conversation, User) {
        let user = try context.requireUser()
        let id = try context.parameters.require("id", as: Int64.self)
        return (try await Access(database).conversation(id, for: user, to: action), user)
    }

    @Sendable func assign(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (conversation, user) = try await conversation(context, to: .read)
        _ = try context.requireManager()
        let body = try await JSONBody.read(request, context: context,
                                           allowed: ["handle", "skill", "team", "dry_run", "note", "campaign_id"])
        let dryRun = try body.bool("dry_run") ?? false
        let note = try body.string("note")
        let campaignID = try body.int("campaign_id")
        guard [try body.string("handle"), try body.string("skill"), try body.string("team")].compactMap({ $0 }).count <= 1 else {
            throw SwitchboardError(.invalid, "conflicting_target", "Give one of 'handle', 'skill' and 'team', not several.")
        }
        // Escalation: to a team's least-loaded available sender.
        if let team = try body.string("team") {
            return try jsonResponse(try await RoutingService(database).escalate(
                conversationID: conversation.id, toTeam: team, actor: user.handle, note: note, dryRun: dryRun,
                orgID: user.orgID))
        }
        // Escalation: to a skill instead of a person.
        if let skill = try body.string("skill") {
            return try jsonResponse(try await RoutingService(database).escalate(
                conversationID: conversation.id, skill: skill, actor: user.handle, note: note, dryRun: dryRun,
                orgID: user.orgID))
        }
        // `"handle": null` unassigns, like DELETE, but takes a note and a dry run.
        let handle: String?
        if case .null? = body.fields["handle"] { handle = nil } else { handle = try body.requireString("handle") }
        return try jsonResponse(try await AssignmentService(database).reassign(
            conversationID: conversation.id, to: handle, actor: user.handle, dryRun: dryRun, note: note,
            campaignID: campaignID.map(Int64.init), orgID: user.orgID))
    }

    @Sendable func unassign(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (conversation, user) = try await conversation(context, to: .read)
        _ = try context.requireManager()
        return try jsonResponse(try await AssignmentService(database).reassign(
            conversationID: conversation.id, to: nil, actor: user.handle, orgID: user.orgID))
    }

    @Sendable func message(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (conversation, user) = try await conversation(context, to: .reply)
        let body = try await JSONBody.read(request, context: context, allowed: ["direction", "body", "leave_unassigned"])
        let direction = try MessageService.Direction(parsing: try body.requireString("direction"))
        if direction == .inbound && !user.role.canManage {
            throw SwitchboardError(.forbidden, "forbidden", "Only admins and organizers may record inbound messages.")
        }
        let recorded = try await MessageService(database).record(
            .conversation(conversation.id), direction: direction, body: try body.requireString("body"),
            sender: direction == .outbound ? user.handle : nil,
            leaveUnassigned: try body.bool("leave_unassigned") ?? false, orgID: user.orgID, caller: user)
        return try jsonResponse(MessageBody(messageID: recorded.messageID, conversation: recorded.conversation,
                                            claimBatchID: recorded.claimBatchID),
                                status: .created)
    }

    @Sendable func close(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (conversation, user) = try await conversation(context, to: .close)
        _ = try await JSONBody.read(request, context: context, allowed: [])
        return try jsonResponse(try await MessageService(database).close(
            conversationID: conversation.id, sender: user.role.canManage ? nil : user.handle, orgID: user.orgID,
            caller: user))
    }

    /// The caller opened the conversation: clears `unread` if they are its assignee.
    @Sendable func markRead(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (conversation, user) = try await conversation(context, to: .read)
        _ = try await JSONBody.read(request, context: context, allowed: [])
        return try jsonResponse(try await MessageService(database).open(conversationID: conversation.id, by: user.id,
                                                                        orgID: user.orgID))
    }

    /// Whom the token signs in as.
    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let organization = try await Directory(database).organization(String(user.orgID))
        return try jsonResponse(Identity(user: user, organization: organization))
    }

    @Sendable func myConversations(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let query = request.uri.queryParameters
        let campaignID = try query.get("campaign").map { text throws(SwitchboardError) -> Int64 in
            guard let id = Int64(text) else {
                throw SwitchboardError(.invalid, "invalid_campaign", "Campaign '\(text)' is not an id.")
            }
            return id
        }
        if let campaignID { _ = try await CampaignService(database).campaign(id: campaignID, orgID: user.orgID) }
        let limit = Int(query.get("limit") ?? "100") ?? -1
        let page = try await ConversationService(database).queue(
            userID: user.id, campaignID: campaignID, filter: try .init(parsing: query.get("status")), limit: limit,
            cursor: query.get("cursor"))
        return try jsonResponse(PageBody(conversations: page.conversations, nextCursor: page.nextCursor))
    }

    @Sendable func batch(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let id = try context.parameters.require("id", as: Int64.self)
        let batch = try await HistoryService(database).batch(id: id, orgID: user.orgID)
        _ = try context.requireManager()
        return try jsonResponse(batch)
    }

    @Sendable func undo(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let id = try context.parameters.require("id", as: Int64.self)
        _ = try await HistoryService(database).batch(id: id, orgID: user.orgID)
        _ = try context.requireManager()
        let body = try await JSONBody.read(request, context: context, allowed: ["dry_run", "note"])
        let dryRun = try body.bool("dry_run") ?? false
        let note = try body.string("note")
        return try await idempotency.run(request, body: body, user: user) { [database] in
            try await AssignmentService(database).undo(batchID: id, actor: user.handle, dryRun: dryRun, note: note,
                                                       orgID: user.orgID)
        }
    }

    /// Server-sent events: one `assignment` event per batch that gives the caller conversations or takes them away,
    /// and a comment line every `heartbeat`. A write that fails (the client is gone) ends the stream, which takes
    /// the subscriber off the hub.
    @Sendable func events(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        return eventStream(try await hub.open(.user(user.id), owner: user.id, limit: streams.perUser), limits: streams,
                           channel: context.channel)
    }
}

struct MessageBody: Encodable {
    let messageID: Int64
    let conversation: Conversation
    let claimBatchID: Int64?
    enum CodingKeys: String, CodingKey { case messageID = "message_id", conversation, claimBatchID = "claim_batch_id" }
}
