import Foundation
import Hummingbird
import SwitchboardCore

/// A campaign's report, for admins and organizers (wave 3).
struct ReportRoutes {
    let database: Database
    let campaigns: CampaignRoutes

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("campaigns/:id/report", use: report)
    }

    @Sendable func report(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (campaign, user) = try await campaigns.managedCampaign(context)
        return try jsonResponse(try await ReportService(database).report(campaignID: campaign.id, orgID: user.orgID))
    }
}
