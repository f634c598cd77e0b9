import Foundation
import Hummingbird
import SwitchboardCore

/// The audit trail, the campaign export and plan previews, for managers: what `switchboard history`, `export` and
/// `apply --dry-run` need over HTTP (issue 22). The JSON shapes are the CLI's `--json` output.
struct HistoryRoutes {
    let database: Database
    let campaigns: CampaignRoutes

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("campaigns/:id/history", use: campaignHistory)
        group.get("campaigns/:id/export", use: export)
        group.get("conversations/:id/history", use: conversationHistory)
        group.get("batches/:id/changes", use: batchChanges)
        group.post("plans/preview", use: previewPlan)
    }

    /// `{"campaign"?, "steps": [...]}` as in an `apply` file: every step rehearsed in one transaction that is
    /// rolled back, each seeing the ones before it; the senders' counts before and after.
    @Sendable func previewPlan(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        _ = try context.requireManager()
        let body = try await JSONBody.read(request, context: context, allowed: ["campaign", "steps"])
        let plan = try Plan(json: Data(buffer: body.raw))
        return try jsonResponse(try await PlanService(database).preview(plan, actor: user.handle, orgID: user.orgID))
    }

    /// `?limit=` (1–10000, default 100) and `?before=BATCH` for older ones; newest first.
    @Sendable func campaignHistory(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let query = request.uri.queryParameters
        let batches = try await HistoryService(database).campaign(
            id: campaign.id, limit: try wholeNumber(query, "limit") ?? 100,
            before: try wholeNumber(query, "before").map(Int64.init), orgID: user.orgID)
        return try jsonResponse(HistoryService.CampaignHistory(campaign_id: campaign.id, batches: batches))
    }

    @Sendable func conversationHistory(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let id = try context.parameters.require("id", as: Int64.self)
        _ = try await Access(database).conversation(id, for: user, to: .read)
        _ = try context.requireManager()
        let changes = try await HistoryService(database).conversation(id: id, orgID: user.orgID)
        return try jsonResponse(HistoryService.ConversationHistory(conversation_id: id, changes: changes))
    }

    /// The batch and its moves by conversation id: `?limit=` (1–10000, default 1000), `?after=CONVERSATION`.
    @Sendable func batchChanges(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let id = try context.parameters.require("id", as: Int64.self)
        let history = HistoryService(database)
        let batch = try await history.batch(id: id, orgID: user.orgID)
        _ = try context.requireManager()
        let query = request.uri.queryParameters
        let changes = try await history.changes(batchID: id, limit: try wholeNumber(query, "limit") ?? 1000,
                                                after: try wholeNumber(query, "after").map(Int64.init), orgID: user.orgID)
        return try jsonResponse(HistoryService.BatchChanges(batch: batch, changes: changes))
    }

    /// Every conversation as CSV, streamed in chunks of about 64 KiB (the same lines as `switchboard export`).
    @Sendable func export(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let database = database
        // Checked before the first byte: a bad filter is a 422, not a broken download.
        let query = request.uri.queryParameters
        let filter = try ConversationFilter(query: query)
        let status = try query.get("status").map { try StatusFilter(parsing: $0).status } ?? nil
        let body = ResponseBody { writer in
            var chunk = ByteBuffer()
            try await ConversationService(database).export(campaignID: campaign.id, orgID: user.orgID, status: status,
                                                           filter: filter) { line in
                chunk.writeString(line + "\n")
                if chunk.readableBytes >= 65_536 {
                    try await writer.write(chunk)
                    chunk.clear()
                }
            }
            if chunk.readableBytes > 0 { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [
            .contentType: "text/csv; charset=utf-8",
            .contentDisposition: "attachment; filename=\"campaign-\(campaign.id).csv\"",
        ], body: body)
    }
}

/// A query parameter that must be a whole number when present: the one sentence names it.
func wholeNumber(_ query: Hummingbird.Parameters, _ name: String) throws(SwitchboardError) -> Int? {
    guard let text = query.get(name) else { return nil }
    guard let value = Int(text) else {
        throw SwitchboardError(.invalid, "invalid_\(name)", "\(name.capitalized) '\(text)' is not a whole number.")
    }
    return value
}
