import Foundation
import SwitchboardCore

/// An organization with an organizer, texters on one campaign, and `conversations` unassigned contacts.
public struct Fixture: Sendable {
    public let database: Database
    public let org: Organization
    public let campaign: Campaign
    public let senders: [String]

    public static func make(_ database: Database, senders: [String] = ["kevin", "rebecca"], conversations: Int = 6,
                            settings: SelfAssignSettings = .init(), orgName: String = "Acme") async throws -> Fixture {
        let directory = Directory(database)
        let org = try await directory.createOrganization(name: orgName)
        _ = try await directory.addUser(orgID: org.id, handle: "ada", name: "Ada", role: .organizer)
        for handle in senders {
            _ = try await directory.addUser(orgID: org.id, handle: handle, name: handle.capitalized, role: .texter)
        }
        let campaign = try await CampaignService(database).create(orgID: org.id, name: "GOTV", settings: settings)
        if !senders.isEmpty {
            try await SenderService(database).add(campaignID: campaign.id, handles: senders)
        }
        if conversations > 0 {
            try await Fixture.importContacts(database, campaignID: campaign.id, count: conversations)
        }
        return Fixture(database: database, org: org, campaign: campaign, senders: senders)
    }

    /// Imports `count` contacts with phones +1555 200 0001… (after `offset`).
    public static func importContacts(_ database: Database, campaignID: Int64, count: Int, offset: Int = 0) async throws {
        var csv = "phone,name\n"
        for index in 1...count { csv += "+1555\(String(2_000_000 + offset + index)),Contact \(offset + index)\n" }
        _ = try await ContactImporter(database).importCSV(campaignID: campaignID, data: Data(csv.utf8),
                                                          fileName: "contacts.csv")
    }

    /// The sender list's numbers, with the real row count of the campaign for comparison.
    public func countsAddUp() async throws -> Bool {
        let list = try await SenderService(database).list(campaignID: campaign.id)
        let rows = try await database.query("SELECT count(*) FROM conversations WHERE campaign_id = \(campaign.id)")
        let actual = try rows[0].decode(Int.self)
        let exact = try await database.query("""
            SELECT count(*) FROM (
                SELECT coalesce(assignee_id, 0) AS assignee, status, count(*) AS n FROM conversations WHERE campaign_id = \(campaign.id)
                GROUP BY 1, 2
            ) real
            FULL JOIN (
                SELECT coalesce(assignee_id, 0) AS assignee, status, sum(n) AS n FROM conversation_counts WHERE campaign_id = \(campaign.id)
                GROUP BY 1, 2 HAVING sum(n) <> 0
            ) kept USING (assignee, status)
            WHERE real.n IS DISTINCT FROM kept.n
            """)
        let mismatches = try exact[0].decode(Int.self)
        return list.total == actual && mismatches == 0
    }
}
