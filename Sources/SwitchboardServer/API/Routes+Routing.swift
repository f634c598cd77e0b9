import Foundation
import Hummingbird
import SwitchboardCore

/// Routing (issue 19): availability, skills and tags, the campaign's policy, handoff, stale release, backlog.
/// Escalation is `PUT /v1/conversations/{id}/assignee` with `{"skill": …}`.
struct RoutingRoutes {
    let database: Database
    let idempotency: Idempotency
    let campaigns: CampaignRoutes

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("campaigns/:id/me/availability", use: availability)
        group.put("campaigns/:id/routing", use: setRouting)
        group.get("campaigns/:id/routing/backlog", use: backlog)
        group.post("campaigns/:id/handoff", use: handoff)
        group.post("campaigns/:id/release-stale", use: releaseStale)
        group.get("campaigns/:id/skills", use: skills)
        group.post("campaigns/:id/senders/:handle/skills", use: addSkills)
        group.delete("campaigns/:id/senders/:handle/skills/:skill", use: removeSkill)
        group.get("conversations/:id/tags", use: tags)
        group.post("conversations/:id/tags", use: addTags)
        group.delete("conversations/:id/tags/:tag", use: removeTag)
        group.post("campaigns/:id/tags", use: bulkTags)
    }

    struct Availability: Encodable {
        let campaignID: Int64
        let handle: String
        let available: Bool
        enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", handle, available }
    }

    /// `{"available": false}` for the caller; organizers may add `"handle"` to set it for someone else.
    @Sendable func availability(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.visibleCampaign(context)
        let body = try await JSONBody.read(request, context: context, allowed: ["available", "handle"])
        guard let available = try body.bool("available") else { throw JSONBody.missing("available") }
        let handle = try body.string("handle") ?? user.handle
        if handle != user.handle && !user.role.canManage {
            throw SwitchboardError(.forbidden, "forbidden", "Only admins and organizers may set another sender's availability.")
        }
        try await RoutingService(database).setAvailability(campaignID: campaign.id, handle: handle, available: available,
                                                           orgID: user.orgID)
        return try jsonResponse(Availability(campaignID: campaign.id, handle: handle, available: available))
    }

    /// `{"policy", "fallback", "release_stale_after"}`; a null `release_stale_after` turns stale release off.
    @Sendable func setRouting(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let body = try await JSONBody.read(request, context: context, allowed: ["policy", "fallback", "release_stale_after"])
        guard !body.fields.isEmpty else {
            throw SwitchboardError(.invalid, "missing_field",
                                   "Give at least one of 'policy', 'fallback' and 'release_stale_after'.")
        }
        let policy = try body.string("policy").map { try RoutingPolicy(parsing: $0) }
        let fallback = try body.string("fallback").map { try RoutingPolicy(parsing: $0) }
        let clear: Bool
        if case .null? = body.fields["release_stale_after"] { clear = true } else { clear = false }
        return try jsonResponse(try await CampaignService(database).updateRouting(
            id: campaign.id, policy: policy, fallback: fallback, releaseStaleAfter: try body.int("release_stale_after"),
            clearReleaseStale: clear, orgID: user.orgID))
    }

    @Sendable func backlog(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let limit = try wholeNumber(request.uri.queryParameters, "limit") ?? 100
        return try jsonResponse(try await RoutingService(database).backlog(campaignID: campaign.id, limit: limit,
                                                                            orgID: user.orgID))
    }

    /// `{"from", "to"?, "policy"?, "status"?, "note"?, "dry_run"?}`
    @Sendable func handoff(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let body = try await JSONBody.read(request, context: context,
                                           allowed: ["from", "to", "to_team", "policy", "status", "note", "dry_run",
                                                     "balance", "available_only"])
        var handoff = RoutingService.HandoffRequest(
            campaignID: campaign.id, from: try body.requireString("from"), to: try body.string("to"),
            policy: try body.string("policy").map { try RoutingPolicy(parsing: $0) }, status: try body.status(),
            actor: user.handle, note: try body.string("note"), dryRun: try body.bool("dry_run") ?? false,
            orgID: user.orgID)
        handoff.toTeam = try body.string("to_team")
        handoff.distribution = try body.bool("balance") == true ? .balance : .even
        handoff.availableOnly = try body.bool("available_only") ?? false
        return try await idempotency.run(request, body: body, user: user) { [database, handoff] in
            try await RoutingService(database).handoff(handoff)
        }
    }

    struct Released: Encodable {
        let results: [BatchResult]
    }

    /// `{"dry_run"?}`: this campaign's stale replies, now (as the timer would).
    @Sendable func releaseStale(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let body = try await JSONBody.read(request, context: context, allowed: ["dry_run"])
        let dryRun = try body.bool("dry_run") ?? false
        let results = try await RoutingService(database).releaseStale(campaignID: campaign.id, actor: user.handle,
                                                                      dryRun: dryRun, orgID: user.orgID)
        return try jsonResponse(results[0])
    }

    struct Skills: Encodable {
        let campaignID: Int64
        let skills: [String: [String]]
        enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", skills }
    }

    struct SenderSkills: Encodable {
        let campaignID: Int64
        let handle: String
        let skills: [String]
        enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", handle, skills }
    }

    @Sendable func skills(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        return try jsonResponse(Skills(campaignID: campaign.id,
                                       skills: try await RoutingService(database).skills(campaignID: campaign.id,
                                                                                         orgID: user.orgID)))
    }

    /// `{"skills": ["spanish", …]}`
    @Sendable func addSkills(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let handle = try context.parameters.require("handle")
        let body = try await JSONBody.read(request, context: context, allowed: ["skills"])
        guard let skills = try body.strings("skills") else { throw JSONBody.missing("skills") }
        let held = try await RoutingService(database).addSkills(campaignID: campaign.id, handle: handle, skills: skills,
                                                                orgID: user.orgID)
        return try jsonResponse(SenderSkills(campaignID: campaign.id, handle: handle, skills: held))
    }

    @Sendable func removeSkill(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let handle = try context.parameters.require("handle")
        let skill = try context.parameters.require("skill")
        let held = try await RoutingService(database).removeSkills(campaignID: campaign.id, handle: handle,
                                                                   skills: [skill], orgID: user.orgID)
        return try jsonResponse(SenderSkills(campaignID: campaign.id, handle: handle, skills: held))
    }

    struct Tags: Encodable {
        let conversationID: Int64
        let tags: [String]
        enum CodingKeys: String, CodingKey { case conversationID = "conversation_id", tags }
    }

    /// A conversation of the caller's organization that the caller may read (Core's `Access`); changing its tags
    /// needs a manager.
    func conversation(_ context: AppRequestContext, managing: Bool) async throws -> (Int64, User) {
        let user = try context.requireUser()
        let id = try context.parameters.require("id", as: Int64.self)
        _ = try await Access(database).conversation(id, for: user, to: .read)
        if managing { _ = try context.requireManager() }
        return (id, user)
    }

    @Sendable func tags(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (id, user) = try await conversation(context, managing: false)
        return try jsonResponse(Tags(conversationID: id,
                                     tags: try await RoutingService(database).tags(conversationID: id, orgID: user.orgID)))
    }

    /// `{"tags": ["billing", …]}`
    @Sendable func addTags(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (id, user) = try await conversation(context, managing: true)
        let body = try await JSONBody.read(request, context: context, allowed: ["tags"])
        guard let tags = try body.strings("tags") else { throw JSONBody.missing("tags") }
        return try jsonResponse(Tags(conversationID: id,
                                     tags: try await RoutingService(database).addTags(conversationID: id, tags: tags,
                                                                                      orgID: user.orgID)))
    }

    /// `{"add": [..]}` or `{"remove": [..]}`, with the selection's `status`, `filter` and `conversation_ids`:
    /// every matching conversation of the campaign, in one statement.
    @Sendable func bulkTags(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let body = try await JSONBody.read(request, context: context,
                                           allowed: ["add", "remove", "status", "filter", "conversation_ids"])
        let added = try body.strings("add")?.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let removed = try body.strings("remove")?.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard (added == nil) != (removed == nil) else {
            throw SwitchboardError(.invalid, "invalid_field", "Give exactly one of 'add' and 'remove', a list of tags.")
        }
        let changed = try await RoutingService(database).changeTags(
            campaignID: campaign.id, tags: added ?? removed ?? [], add: added != nil, status: try body.status().status,
            filter: try body.filter(), orgID: user.orgID)
        return try jsonResponse(BulkTags(campaignID: campaign.id, tags: added ?? removed ?? [], added: added != nil,
                                         changed: changed))
    }

    struct BulkTags: Encodable {
        let campaignID: Int64
        let tags: [String]
        let added: Bool
        let changed: Int
        enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", tags, added, changed }
    }

    @Sendable func removeTag(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (id, user) = try await conversation(context, managing: true)
        let tag = try context.parameters.require("tag")
        return try jsonResponse(Tags(conversationID: id,
                                     tags: try await RoutingService(database).removeTags(conversationID: id, tags: [tag],
                                                                                         orgID: user.orgID)))
    }
}
