import Foundation
import Hummingbird
import NIOCore
import SwitchboardCore

/// Setting a campaign up, for admins and organizers of its organization: what `campaign create|set`,
/// `sender add|deactivate` and `contacts import` do, over HTTP (issue 22), so that an organizer with a token
/// needs no database credentials from a campaign's creation to its last batch.
struct SetupRoutes {
    let database: Database
    let campaigns: CampaignRoutes

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("campaigns", use: create)
        group.patch("campaigns/:id", use: update)
        group.post("campaigns/:id/senders", use: addSenders)
        group.delete("campaigns/:id/senders/:handle", use: deactivate)
        group.post("campaigns/:id/contacts", use: importContacts)
    }

    /// `{"name", "self_assign"?, "batch_size"?, "max_open"?, "require_finished_batch"?}` → 201 and the campaign.
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireManager()
        let body = try await JSONBody.read(request, context: context,
                                           allowed: ["name", "self_assign", "batch_size", "max_open", "require_finished_batch"])
        let settings = SelfAssignSettings(
            selfAssign: try body.bool("self_assign") ?? false,
            batchSize: try body.int("batch_size") ?? SelfAssignSettings.defaultBatchSize,
            maxOpen: try body.int("max_open"), requireFinishedBatch: try body.bool("require_finished_batch") ?? true)
        try settings.validate()
        let campaign = try await CampaignService(database).create(orgID: user.orgID, name: try body.requireString("name"),
                                                                  settings: settings)
        return try jsonResponse(campaign, status: .created)
    }

    /// Self-assign settings, request approval and teams; a field left out stays as it is, `"max_open": null`
    /// removes the cap, `"routing_team": null` routes among every sender again, `"teams": []` lifts the limit.
    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let body = try await JSONBody.read(request, context: context,
                                           allowed: ["self_assign", "batch_size", "max_open", "require_finished_batch",
                                                     "request_approval", "teams", "routing_team"])
        guard !body.fields.isEmpty else {
            throw SwitchboardError(.invalid, "missing_field",
                                   "Give at least one of 'self_assign', 'batch_size', 'max_open', 'require_finished_batch', 'request_approval', 'teams' and 'routing_team'.")
        }
        let clearMaxOpen: Bool
        if case .null? = body.fields["max_open"] { clearMaxOpen = true } else { clearMaxOpen = false }
        let clearRoutingTeam: Bool
        if case .null? = body.fields["routing_team"] { clearRoutingTeam = true } else { clearRoutingTeam = false }
        let teams = try body.strings("teams")
        let routingTeam = clearRoutingTeam ? nil : try body.string("routing_team")
        // Nothing is applied unless all of it can be: the team names are checked, then the settings (validated
        // before they are written), then the teams.
        let service = TeamService(database)
        try await service.requireExisting((teams ?? []) + (routingTeam.map { [$0] } ?? []), orgID: user.orgID)
        var updated = try await CampaignService(database).update(
            id: campaign.id, selfAssign: try body.bool("self_assign"), batchSize: try body.int("batch_size"),
            maxOpen: try body.int("max_open"), clearMaxOpen: clearMaxOpen,
            requireFinishedBatch: try body.bool("require_finished_batch"),
            requestApproval: try body.bool("request_approval"))
        if teams != nil || routingTeam != nil || clearRoutingTeam {
            updated = try await service.configure(campaignID: campaign.id, teams: teams, routingTeam: routingTeam,
                                                  clearRoutingTeam: clearRoutingTeam, orgID: user.orgID)
        }
        return try jsonResponse(updated)
    }

    struct Added: Codable {
        let campaign_id: Int64
        let added: [String]
    }

    struct Deactivated: Codable {
        let campaign_id: Int64
        let deactivated: String
    }

    /// `{"handles": ["kevin", …]}`: users of the organization onto the sender list, all or none.
    @Sendable func addSenders(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, _) = try await campaigns.managedCampaign(context)
        let body = try await JSONBody.read(request, context: context, allowed: ["handles"])
        guard let handles = try body.strings("handles") else { throw JSONBody.missing("handles") }
        try await SenderService(database).add(campaignID: campaign.id, handles: handles)
        return try jsonResponse(Added(campaign_id: campaign.id, added: handles))
    }

    @Sendable func deactivate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, _) = try await campaigns.managedCampaign(context)
        let handle = try context.parameters.require("handle")
        try await SenderService(database).deactivate(campaignID: campaign.id, handle: handle)
        return try jsonResponse(Deactivated(campaign_id: campaign.id, deactivated: handle))
    }

    struct Imported: Codable {
        let campaign_id: Int64
        let imported: Int
    }

    /// The CSV file as the body (`text/csv`, at most 64 MiB), all rows or none, with `contacts import`'s rules.
    @Sendable func importContacts(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, _) = try await campaigns.managedCampaign(context)
        var request = request
        let data: ByteBuffer
        do {
            data = try await request.collectBody(upTo: Upload.maximumSize)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge)
        }
        let name = request.uri.queryParameters.get("file_name") ?? "the uploaded file"
        let report = try await ContactImporter(database).importCSV(campaignID: campaign.id, data: Data(buffer: data),
                                                                   fileName: name)
        return try jsonResponse(Imported(campaign_id: report.campaignID, imported: report.imported))
    }
}
