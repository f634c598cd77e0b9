import Foundation

/// A small demo organization: an admin who organizes, two texters, a campaign of six contacts, as in ThruText's
/// walkthrough, and an invite link for new volunteers.
public struct Demo: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public struct Loaded: Sendable {
        public let orgID: Int64
        public let campaignID: Int64
        /// A fresh bearer token for the demo organizer.
        public let organizerToken: String
        /// A fresh bearer token for the texter kevin.
        public let texterToken: String
        /// A fresh invite link token for the campaign (volunteers sign up at `/join/TOKEN`).
        public let inviteToken: String
        /// The console passwords of ada and kevin (set again on every load).
        public let organizerPassword = Demo.organizerPassword
        public let texterPassword = Demo.texterPassword
    }

    public static let organizationName = "Demo"
    public static let organizerPassword = "ada-demo-password"
    public static let texterPassword = "kevin-demo-password"

    /// Loads the demo once; running it again finds it and only makes new tokens.
    public func load() async throws -> Loaded {
        let directory = Directory(database)
        let org: Organization
        let campaignID: Int64
        if let existing = try? await directory.organization(Self.organizationName) {
            org = existing
            let rows = try await database.query(
                "SELECT id FROM campaigns WHERE org_id = \(org.id) ORDER BY id LIMIT 1")
            campaignID = try rows[0].decode(Int64.self)
        } else {
            org = try await directory.createOrganization(name: Self.organizationName)
            _ = try await directory.addUser(orgID: org.id, handle: "ada", name: "Ada (admin)", role: .admin)
            _ = try await directory.addUser(orgID: org.id, handle: "kevin", name: "Kevin", role: .texter)
            _ = try await directory.addUser(orgID: org.id, handle: "rebecca", name: "Rebecca", role: .texter)
            let campaign = try await CampaignService(database).create(
                orgID: org.id, name: "Get out the vote", settings: SelfAssignSettings(selfAssign: true, batchSize: 2))
            campaignID = campaign.id
            try await SenderService(database).add(campaignID: campaign.id, handles: ["kevin", "rebecca"])
            let csv = """
                phone,name,precinct
                +15550100001,Alice Adams,12
                +15550100002,Bob Brown,12
                +15550100003,Carol Chen,14
                +15550100004,Dan Diaz,14
                +15550100005,Erin Evans,15
                +15550100006,Frank Fox,15

                """
            _ = try await ContactImporter(database).importCSV(campaignID: campaign.id, data: Data(csv.utf8),
                                                              fileName: "demo.csv")
        }
        let auth = ConsoleAuth(database)
        try await auth.setPassword(orgID: org.id, handle: "ada", password: Self.organizerPassword)
        try await auth.setPassword(orgID: org.id, handle: "kevin", password: Self.texterPassword)
        return Loaded(orgID: org.id, campaignID: campaignID,
                      organizerToken: try await directory.createToken(orgID: org.id, handle: "ada"),
                      texterToken: try await directory.createToken(orgID: org.id, handle: "kevin"),
                      inviteToken: try await InviteService(database).create(campaignID: campaignID, actor: "demo").token)
    }
}
