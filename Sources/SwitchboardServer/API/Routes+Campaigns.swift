import Foundation
import Hummingbird
import SwitchboardCore

/// Campaign reads and the batch operations.
struct CampaignRoutes {
    let database: Database
    let idempotency: Idempotency

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("campaigns/:id", use: campaign)
        group.get("campaigns/:id/senders", use: senders)
        group.get("campaigns/:id/conversations", use: conversations)
        group.post("campaigns/:id/reassign-all") { try await self.bulk($0, $1, some: false) }
        group.post("campaigns/:id/reassign-some") { try await self.bulk($0, $1, some: true) }
        group.post("campaigns/:id/unassign-all/preview", use: preview)
        group.post("campaigns/:id/unassign-all", use: unassignAll)
        group.post("campaigns/:id/requests", use: requestMore)
        group.post("campaigns/:id/release", use: release)
    }

    /// The campaign, if the caller's organization owns it (404 otherwise), and the caller may see it:
    /// managers see every campaign of their organization, texters those they send for.
    func visibleCampaign(_ context: AppRequestContext) async throws -> (Campaign, User) {
        let user = try context.requireUser()
        let id = try context.parameters.require("id", as: Int64.self)
        return (try await Access(database).campaign(id, for: user), user)
    }

    func managedCampaign(_ context: AppRequestContext) async throws -> (Campaign, User) {
        let (campaign, user) = try await visibleCampaign(context)
        _ = try context.requireManager()
        return (campaign, user)
    }

    @Sendable func campaign(_ request: Request, context: AppRequestContext) async throws -> Response {
        try jsonResponse(try await visibleCampaign(context).0)
    }

    @Sendable func senders(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, _) = try await managedCampaign(context)
        return try jsonResponse(try await SenderService(database).list(campaignID: campaign.id))
    }

    @Sendable func conversations(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await visibleCampaign(context)
        let query = request.uri.queryParameters
        var assignee = ConversationService.AssigneeFilter.anyone
        if let value = query.get("assignee") { assignee = value == "unassigned" ? .unassigned : .sender(value) }
        assignee = try Access.listing(assignee, for: user)
        var status: ConversationStatus? = nil
        if let value = query.get("status") { status = try StatusFilter(parsing: value).status }
        let limit = try wholeNumber(query, "limit") ?? 100
        let page = try await ConversationService(database).list(campaignID: campaign.id, assignee: assignee, status: status,
                                                                 filter: try ConversationFilter(query: query),
                                                                 limit: limit, cursor: query.get("cursor"))
        return try jsonResponse(PageBody(conversations: page.conversations, nextCursor: page.nextCursor))
    }

    // Not optimised: swiftc 6.3.1 crashes (signal 11, LLVM coroutine splitting) on this function in -O builds.
    @_optimize(none)
    func bulk(_ request: Request, _ context: AppRequestContext, some: Bool) async throws -> Response {
        let (campaign, user) = try await managedCampaign(context)
        var allowed: Set<String> = ["source", "status", "to", "dry_run", "balance", "note", "available_only"]
        if some { allowed.insert("count") }
        let body = try await JSONBody.read(request, context: context, allowed: allowed.union(JSONBody.selection))
        var bulk = AssignmentService.BulkRequest(
            campaignID: campaign.id, source: try body.source(), status: try body.status(), target: try body.target(),
            distribution: try body.bool("balance") == true ? .balance : .even, actor: user.handle,
            dryRun: try body.bool("dry_run") ?? false, note: try body.string("note"),
            availableOnly: try body.bool("available_only") ?? false, orgID: user.orgID)
        bulk.filter = try body.filter()
        bulk.previewToken = try body.string("preview_token")
        if some {
            guard let count = try body.int("count") else { throw JSONBody.missing("count") }
            bulk.count = count
        }
        return try await idempotency.run(request, body: body, user: user) { [database, bulk] in
            let service = AssignmentService(database)
            return some ? try await service.reassignSome(bulk) : try await service.reassignAll(bulk)
        }
    }

    @Sendable func preview(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await managedCampaign(context)
        let body = try await JSONBody.read(request, context: context,
                                           allowed: ["from", "from_anyone", "status", "filter", "conversation_ids"])
        let preview = try await AssignmentService(database).previewUnassignAll(
            campaignID: campaign.id, from: try body.unassignSource(), status: try body.status(), actor: user.handle,
            filter: try body.filter(), orgID: user.orgID)
        return try jsonResponse(PreviewBody(count: preview.count, confirmationToken: preview.confirmationToken,
                                            expiresAt: preview.expiresAt))
    }

    @Sendable func unassignAll(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await managedCampaign(context)
        let body = try await JSONBody.read(request, context: context,
                                           allowed: JSONBody.selection.union(["from", "from_anyone", "status",
                                                                              "confirmation_token", "dry_run", "note"]))
        let from = try body.unassignSource()
        let status = try body.status()
        let dryRun = try body.bool("dry_run") ?? false
        let token = try body.string("confirmation_token")
        let note = try body.string("note")
        let filter = try body.filter()
        let previewToken = try body.string("preview_token")
        return try await idempotency.run(request, body: body, user: user) { [database] in
            try await AssignmentService(database).unassignAll(
                campaignID: campaign.id, from: from, status: status, actor: user.handle, confirmationToken: token,
                dryRun: dryRun, note: note, filter: filter, previewToken: previewToken, orgID: user.orgID)
        }
    }

    /// Texters request for themselves; naming anyone else is forbidden.
    func selfOnly(_ body: JSONBody, _ user: User) throws {
        if let sender = try body.string("sender"), sender != user.handle {
            throw SwitchboardError(.forbidden, "forbidden", "You can only request or release conversations for yourself.")
        }
    }

    @Sendable func requestMore(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await visibleCampaign(context)
        let body = try await JSONBody.read(request, context: context, allowed: ["count", "sender"])
        try selfOnly(body, user)
        let count = try body.int("count")
        return try await idempotency.run(request, body: body, user: user,
                                         respond: { (grant: SelfAssignService.Grant) in
                                             if let id = grant.pendingRequest {
                                                 return try Encoded(PendingBody(requestID: id), status: .accepted)
                                             }
                                             return try Encoded(GrantBody(result: grant.result, conversations: grant.conversations))
                                         }) { [database] in
            try await SelfAssignService(database).requestMore(campaignID: campaign.id, sender: user.handle, count: count,
                                                              orgID: user.orgID)
        }
    }

    @Sendable func release(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await visibleCampaign(context)
        let body = try await JSONBody.read(request, context: context, allowed: ["sender"])
        try selfOnly(body, user)
        return try await idempotency.run(request, body: body, user: user) { [database] in
            try await SelfAssignService(database).release(campaignID: campaign.id, sender: user.handle, orgID: user.orgID)
        }
    }
}

struct PageBody: Encodable {
    let conversations: [Conversation]
    let nextCursor: String?
    enum CodingKeys: String, CodingKey { case conversations, nextCursor = "next_cursor" }
}

struct PreviewBody: Encodable {
    let count: Int
    let confirmationToken: String
    let expiresAt: Date
    enum CodingKeys: String, CodingKey { case count, confirmationToken = "confirmation_token", expiresAt = "expires_at" }
}

/// Request Conversations held for approval: 202 and the request's id.
struct PendingBody: Encodable {
    let requestID: Int64
    let status = "pending"
    enum CodingKeys: String, CodingKey { case requestID = "request_id", status }
}

/// The batch result, with the conversations granted next to it.
struct GrantBody: Encodable {
    let result: BatchResult
    let conversations: [Conversation]
    enum CodingKeys: String, CodingKey { case conversations }

    func encode(to encoder: any Encoder) throws {
        try result.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(conversations, forKey: .conversations)
    }
}
