import Foundation
import SwitchboardCLI
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// What ends a session, and what a token can outlive.
@Suite("Security: sessions and tokens")
struct SessionEndTests {
    @Test("setting a password ends the user's sessions and unused links; sessions also end 7 days after sign-in")
    func passwordEndsSessions() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let auth = ConsoleAuth(database, cost: 4)
            let kevin = try await Directory(database).user(orgID: f.org.id, handle: "kevin")
            let (token, _) = try await auth.openSession(for: kevin)
            let link = try await auth.passwordLink(orgID: f.org.id, handle: "kevin", actor: "ada")
            #expect(try await auth.session(token: token) != nil)
            // What `switchboard user password` calls.
            try await auth.setPassword(orgID: f.org.id, handle: "kevin", password: "a brand new password")
            #expect(try await auth.session(token: token) == nil)
            #expect(try await auth.passwordLinkUser(token: link) == nil)
            // The absolute lifetime, however recently the session was used.
            let (fresh, _) = try await auth.openSession(for: kevin)
            try await database.query("UPDATE web_sessions SET created_at = now() - interval '8 days', last_seen_at = now()")
            #expect(try await auth.session(token: fresh) == nil)
        }
    }

    @Test("user deactivate: tokens and sessions stop at once, off duty everywhere, history kept; activate lets them back")
    func deactivate() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let directory = Directory(database)
            let token = try await directory.createToken(orgID: f.org.id, handle: "kevin")
            let auth = ConsoleAuth(database, cost: 4)
            let (session, _) = try await auth.openSession(for: try await directory.user(orgID: f.org.id, handle: "kevin"))
            _ = try await AssignmentService(database).reassignAll(f.request(.unassigned, .senders(["kevin"])))
            let url = database.url.connectionString
            #expect(await Switchboard.main(arguments: ["user", "deactivate", "--org", "Acme", "kevin", "--database-url", url]) == 0)
            #expect(try await directory.authenticate(token: token) == nil)
            #expect(try await auth.session(token: session) == nil)
            #expect(try await SenderService(database).isActiveSender(campaignID: f.campaign.id,
                                                                     userID: try await directory.user(orgID: f.org.id, handle: "kevin").id) == false)
            // What they hold and what they did stay.
            #expect(try await f.count(of: "kevin") == 6)
            #expect(try await database.query("SELECT count(*) FROM assignment_batches")[0].decode(Int.self) == 1)
            #expect(await Switchboard.main(arguments: ["user", "deactivate", "--org", "Acme", "nobody", "--database-url", url]) == 2)
            #expect(await Switchboard.main(arguments: ["user", "activate", "--org", "Acme", "kevin", "--database-url", url]) == 0)
            #expect(try await directory.authenticate(token: token) == nil)
            let fresh = try await directory.createToken(orgID: f.org.id, handle: "kevin")
            #expect(try await directory.authenticate(token: fresh)?.handle == "kevin")
        }
    }
}

/// Exported cells a spreadsheet would run, and imported line breaks.
@Suite("Security: CSV in and out")
struct CSVSafetyTests {
    @Test("export neutralises formulas ('=…, '+…); such a file imports again; a quoted CR LF imports whole")
    func formulas() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 0)
            let csv = "phone,name\n+15550100001,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n"
                + "+15550100002,@SUM(A1)\n+15550100003,\"Line one\r\nLine two\"\n+15550100004,-2+3\n"
            _ = try await ContactImporter(database).importCSV(campaignID: f.campaign.id, data: Data(csv.utf8),
                                                              fileName: "people.csv")
            let names = try await database.query("SELECT name FROM contacts ORDER BY id").map { try $0.decode(String.self) }
            #expect(names[2] == "Line one\r\nLine two")
            var lines: [String] = []
            try await ConversationService(database).export(campaignID: f.campaign.id) { lines.append($0) }
            let body = lines.dropFirst().joined(separator: "\n")
            #expect(body.contains("'+15550100001,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""))
            #expect(body.contains("'@SUM(A1)") && body.contains("'-2+3") && body.contains("\"Line one\r\nLine two\""))
            // The exported file, opened and saved by nobody, imports into another campaign as it was.
            let other = try await CampaignService(database).create(orgID: f.org.id, name: "Again")
            let exported = lines.joined(separator: "\n")
            let report = try await ContactImporter(database).importCSV(campaignID: other.id, data: Data(exported.utf8),
                                                                       fileName: "export.csv")
            #expect(report.imported == 4)
            let phones = try await database.query("SELECT phone FROM contacts WHERE campaign_id = \(other.id) ORDER BY id")
                .map { try $0.decode(String.self) }
            #expect(phones == ["+15550100001", "+15550100002", "+15550100003", "+15550100004"])
        }
    }
}
