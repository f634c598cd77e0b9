import Foundation
import PostgresNIO

/// The demo organization `serve --demo` loads: a believable campaign a newcomer can look around in. An admin (ada),
/// thirteen texters (kevin among them), 3,000 contacts of whom 1,200 were handed out in one finished batch, most
/// of them texted, replies of every age from minutes to days, some closed, a few opted out, tags, and an invite
/// link for new volunteers. Loads in a few seconds; loading again finds it and only makes new tokens.
public struct Demo: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public struct Loaded: Sendable {
        public let orgID: Int64
        public let campaignID: Int64
        /// A fresh bearer token for the demo admin.
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
    static let contacts = 3000
    static let handedOut = 1200
    static let texters = [("kevin", "Kevin Okafor"), ("rebecca", "Rebecca Liu"), ("maria", "María Hernández"),
                          ("dev", "Dev Patel"), ("sam", "Sam Whitaker"), ("aisha", "Aisha Bello"),
                          ("tom", "Tom Nguyen"), ("lena", "Lena Fischer"), ("omar", "Omar Haddad"),
                          ("grace", "Grace Kim"), ("jonah", "Jonah Silva"), ("priya", "Priya Raman"),
                          ("luis", "Luis Ortega")]

    public func load() async throws -> Loaded {
        let directory = Directory(database)
        let org: Organization
        let campaignID: Int64
        if let existing = try? await directory.organization(Self.organizationName) {
            org = existing
            campaignID = try await database.query(
                "SELECT id FROM campaigns WHERE org_id = \(org.id) ORDER BY id LIMIT 1")[0].decode(Int64.self)
        } else {
            org = try await directory.createOrganization(name: Self.organizationName)
            campaignID = try await seed(org)
        }
        let auth = ConsoleAuth(database)
        try await auth.setPassword(orgID: org.id, handle: "ada", password: Self.organizerPassword)
        try await auth.setPassword(orgID: org.id, handle: "kevin", password: Self.texterPassword)
        return Loaded(orgID: org.id, campaignID: campaignID,
                      organizerToken: try await directory.createToken(orgID: org.id, handle: "ada"),
                      texterToken: try await directory.createToken(orgID: org.id, handle: "kevin"),
                      inviteToken: try await InviteService(database).create(campaignID: campaignID, actor: "demo").token)
    }

    /// The campaign and its story, through Core where an organizer would act (import, the batch that handed
    /// conversations out) and in a few set-based statements for the texting that followed.
    private func seed(_ org: Organization) async throws -> Int64 {
        let directory = Directory(database)
        _ = try await directory.addUser(orgID: org.id, handle: "ada", name: "Ada Lovelace", role: .admin)
        for (handle, name) in Self.texters {
            _ = try await directory.addUser(orgID: org.id, handle: handle, name: name, role: .texter)
        }
        let campaign = try await CampaignService(database).create(
            orgID: org.id, name: "Get out the vote",
            settings: SelfAssignSettings(selfAssign: true, batchSize: 100, maxOpen: 400))
        try await SenderService(database).add(campaignID: campaign.id, handles: Self.texters.map(\.0))
        // Two teams to try targets and routing with (the campaign is not limited to them).
        let teams = TeamService(database)
        _ = try await teams.create(orgID: org.id, name: "spanish")
        _ = try await teams.add(orgID: org.id, team: "spanish", handles: ["maria", "luis", "omar"])
        _ = try await teams.create(orgID: org.id, name: "night-shift")
        _ = try await teams.add(orgID: org.id, team: "night-shift", handles: ["dev", "grace", "priya", "tom"])
        _ = try await ContactImporter(database).importCSV(campaignID: campaign.id, data: Data(Self.csv().utf8),
                                                          fileName: "demo.csv")
        _ = try await AssignmentService(database).reassignSome(AssignmentService.BulkRequest(
            campaignID: campaign.id, source: .unassigned, target: .allActive, count: Self.handedOut, actor: "ada",
            note: "Tonight's shift, split evenly"))
        try await database.transaction { connection in
            // The initial message went out on nine in ten handed-out conversations, over the last three days (all
            // of kevin's, so that he can Request Conversations); a third of those got a reply, some were closed
            // after it, a few opted out.
            try await connection.query("""
                CREATE TEMP TABLE demo_story ON COMMIT DROP AS
                SELECT c.id, c.assignee_id,
                       now() - make_interval(mins => (abs(hashint8(c.id)) % 4320)::int) AS sent_at,
                       abs(hashint8(c.id * 7)) % 100 AS fate
                FROM conversations c JOIN users u ON u.id = c.assignee_id
                WHERE c.campaign_id = \(campaign.id) AND (u.handle = 'kevin' OR abs(hashint8(c.id * 3)) % 10 <> 0)
                """, logger: database.logger)
            try await connection.query("""
                INSERT INTO messages (campaign_id, conversation_id, direction, body, sender_id, created_at)
                SELECT \(campaign.id), id, 'outbound', 'Hi! This is a volunteer with the campaign. Will you vote on Tuesday?',
                       assignee_id, sent_at FROM demo_story
                UNION ALL
                SELECT \(campaign.id), id, 'inbound',
                       CASE WHEN fate < 3 THEN 'STOP' WHEN fate % 3 = 0 THEN 'Where is my polling place?'
                            WHEN fate % 3 = 1 THEN 'Yes, I will!' ELSE 'Can I vote early?' END,
                       NULL, sent_at + make_interval(mins => (5 + fate * 7)::int)
                FROM demo_story WHERE fate < 35
                """, logger: database.logger)
            try await connection.query("""
                UPDATE conversations c SET
                    status = CASE WHEN s.fate < 3 THEN 'opted_out' WHEN s.fate < 12 THEN 'closed'
                                  WHEN s.fate < 35 THEN 'needs_reply' ELSE 'waiting' END,
                    unread = s.fate BETWEEN 3 AND 34 AND s.fate % 2 = 0,
                    last_message_at = CASE WHEN s.fate < 35 THEN s.sent_at + make_interval(mins => (5 + s.fate * 7)::int)
                                           ELSE s.sent_at END,
                    updated_at = now()
                FROM demo_story s WHERE c.campaign_id = \(campaign.id) AND c.id = s.id
                """, logger: database.logger)
            try await connection.query("""
                INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
                SELECT \(campaign.id), c.id, CASE WHEN abs(hashint8(c.id * 5)) % 3 = 0 THEN 'volunteer' ELSE 'spanish' END
                FROM conversations c WHERE c.campaign_id = \(campaign.id) AND abs(hashint8(c.id * 5)) % 10 = 0
                """, logger: database.logger)
            try await connection.query("""
                UPDATE campaign_senders SET last_active_at = now() - make_interval(mins => (abs(hashint8(user_id)) % 600)::int)
                WHERE campaign_id = \(campaign.id)
                """, logger: database.logger)
        }
        return campaign.id
    }

    /// 3,000 contacts with plausible names, a precinct, and phones in the reserved 555-01xx range.
    static func csv() -> String {
        let first = ["Alice", "Bob", "Carol", "Dan", "Erin", "Frank", "Gloria", "Hector", "Ivy", "Jamal", "Keisha",
                     "Liam", "Mei", "Noah", "Olivia", "Pedro", "Quinn", "Rosa", "Sanjay", "Tanya", "Uma", "Victor",
                     "Wendy", "Xavier", "Yara", "Zoe"]
        let last = ["Adams", "Brown", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hughes", "Ito", "Johnson", "Khan",
                    "Lopez", "Morris", "Nakamura", "Owens", "Price", "Reyes", "Smith", "Torres", "Vargas", "Walker",
                    "Young"]
        var csv = "phone,name,precinct\n"
        for index in 0..<contacts {
            let name = "\(first[index % first.count]) \(last[(index / first.count + index) % last.count])"
            csv += "+1555\(String(format: "%07d", 100_000 + index)),\(name),\(10 + index % 25)\n"
        }
        return csv
    }
}
