import Foundation
import Hummingbird
import SwitchboardCore

/// Every noun the caller may see, listed (issue 34): `{"<plural noun>": [...]}`, as the CLI's lists print them.
struct ListRoutes {
    let database: Database
    let campaigns: CampaignRoutes

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("organizations", use: organizations)
        group.get("users", use: users)
        group.get("campaigns", use: campaignList)
        group.get("tokens", use: tokens)
        group.get("campaigns/:id/invites", use: invites)
    }

    /// The caller's own organization: one organization never sees another.
    @Sendable func organizations(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        return try jsonResponse(Listing("organizations", [try await Directory(database).organization(id: user.orgID)]))
    }

    /// The organization's users, for admins and organizers.
    @Sendable func users(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireManager()
        return try jsonResponse(Listing("users", try await Directory(database).members(orgID: user.orgID)))
    }

    /// Managers see every campaign of their organization; a texter the ones they send for.
    @Sendable func campaignList(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let list = try await CampaignService(database).list(orgID: user.orgID, senderID: user.role.canManage ? nil : user.id)
        return try jsonResponse(Listing("campaigns", list))
    }

    /// `?user=H`: admins see every token of the organization (or one user's); anyone else only their own. Never a
    /// token's secret.
    @Sendable func tokens(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let asked = request.uri.queryParameters.get("user")
        if let asked { try Directory.validate(handle: asked) }
        let handle: String?
        if user.role == .admin {
            handle = asked
        } else {
            guard asked == nil || asked == user.handle else {
                throw SwitchboardError(.forbidden, "forbidden", "Only admins may list another user's tokens.")
            }
            handle = user.handle
        }
        return try jsonResponse(Listing("tokens", try await Directory(database).tokens(orgID: user.orgID, handle: handle)))
    }

    @Sendable func invites(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        return try jsonResponse(Listing("invites", try await InviteService(database).list(campaignID: campaign.id,
                                                                                         orgID: user.orgID)))
    }
}
