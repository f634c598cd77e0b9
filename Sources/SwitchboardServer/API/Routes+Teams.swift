import Foundation
import Hummingbird
import SwitchboardCore

/// Teams and request approval (wave 3), for admins and organizers of the caller's organization; a texter may only
/// read the teams.
struct TeamRoutes {
    let database: Database
    let campaigns: CampaignRoutes

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("teams", use: list)
        group.post("teams", use: create)
        group.post("teams/:name/members", use: members)
        group.get("campaigns/:id/requests", use: requests)
        group.post("requests/approve", use: approve)
        group.post("requests/deny", use: deny)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        return try jsonResponse(Listing("teams", try await TeamService(database).list(orgID: user.orgID)))
    }

    /// `{"name"}` → 201 and the team.
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireManager()
        let body = try await JSONBody.read(request, context: context, allowed: ["name"])
        return try jsonResponse(try await TeamService(database).create(orgID: user.orgID, name: body.requireString("name")),
                                status: .created)
    }

    /// `{"add": [handles]}` or `{"remove": [handles]}`, all or none → the team.
    @Sendable func members(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireManager()
        let name = try context.parameters.require("name")
        let body = try await JSONBody.read(request, context: context, allowed: ["add", "remove"])
        let add = try body.strings("add")
        let remove = try body.strings("remove")
        guard (add == nil) != (remove == nil) else {
            throw SwitchboardError(.invalid, "missing_field", "Give exactly one of 'add' and 'remove', a list of handles.")
        }
        let teams = TeamService(database)
        if let add { return try jsonResponse(try await teams.add(orgID: user.orgID, team: name, handles: add)) }
        return try jsonResponse(try await teams.remove(orgID: user.orgID, team: name, handles: remove ?? []))
    }

    /// `?status=pending|approved|denied|expired`, newest first.
    @Sendable func requests(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        let status = try request.uri.queryParameters.get("status").map { try RequestService.Status(parsing: $0) }
        return try jsonResponse(Listing("requests", try await RequestService(database).list(
            campaignID: campaign.id, status: status, orgID: user.orgID)))
    }

    /// `{"request_ids": [...], "count"?}` or `{"campaign_id", "all": true}` → `{"requests": [decision…]}`.
    @Sendable func approve(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireManager()
        let body = try await JSONBody.read(request, context: context, allowed: ["request_ids", "campaign_id", "all", "count"])
        let ids = try await Self.ids(body, user: user, database: database)
        return try jsonResponse(Listing("requests", try await RequestService(database).approve(
            ids, count: try body.int("count"), actor: user.handle, orgID: user.orgID)))
    }

    /// `{"request_ids": [...], "note"?}` → `{"requests": [...]}`.
    @Sendable func deny(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireManager()
        let body = try await JSONBody.read(request, context: context, allowed: ["request_ids", "campaign_id", "all", "note"])
        let ids = try await Self.ids(body, user: user, database: database)
        return try jsonResponse(Listing("requests", try await RequestService(database).deny(
            ids, note: try body.string("note"), actor: user.handle, orgID: user.orgID)))
    }

    /// The requests a decision names: listed by id, or every pending one of a campaign.
    static func ids(_ body: JSONBody, user: User, database: Database) async throws -> [Int64] {
        if try body.bool("all") == true {
            guard let campaign = try body.int("campaign_id") else { throw JSONBody.missing("campaign_id") }
            return try await RequestService(database).pendingIDs(campaignID: Int64(campaign), orgID: user.orgID)
        }
        guard case .array(let list)? = body.fields["request_ids"] else { throw JSONBody.missing("request_ids") }
        return try list.map { value in
            guard case .number(let id) = value, id.rounded() == id, id >= 1, id < 1e15 else {
                throw JSONBody.wrongType("request_ids", "a list of request ids")
            }
            return Int64(id)
        }
    }
}
