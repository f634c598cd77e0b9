import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Setup: organizations, users, campaigns, senders")
struct SetupTests {
    @Test("bad input is named and changes nothing")
    func badInput() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let directory = Directory(database)
            await #expect(throws: SwitchboardError.invalid("invalid_handle",
                                                           "Handle 'Bad Handle' is invalid; use 1 to 64 of a-z, 0-9, '.', '_' and '-'.")) {
                _ = try await directory.addUser(orgID: fixture.org.id, handle: "Bad Handle")
            }
            await expectCode("duplicate_handle") { _ = try await directory.addUser(orgID: fixture.org.id, handle: "kevin") }
            await expectCode("unknown_organization") { _ = try await directory.organization("Nope") }
            await expectCode("unknown_organization") { _ = try await directory.organization("999999") }
            await expectCode("duplicate_organization") { _ = try await directory.createOrganization(name: "Acme") }
            await expectCode("invalid_batch_size") {
                _ = try await CampaignService(database).create(orgID: fixture.org.id, name: "X",
                                                               settings: .init(batchSize: 0))
            }
            await expectCode("invalid_batch_size") {
                _ = try await CampaignService(database).update(id: fixture.campaign.id, batchSize: 5001)
            }
            await expectCode("unknown_campaign") { _ = try await CampaignService(database).campaign(id: 424242) }
            await expectCode("unknown_user") {
                try await SenderService(database).add(campaignID: fixture.campaign.id, handles: ["rebecca", "ghost"])
            }
            let list = try await SenderService(database).list(campaignID: fixture.campaign.id)
            #expect(list.senders.map(\.handle) == ["kevin", "rebecca"])
            let users = try await database.query("SELECT count(*) FROM users WHERE org_id = \(fixture.org.id)")
            #expect(try users[0].decode(Int.self) == 3)
        }
    }

    @Test("campaign settings can be changed later")
    func settings() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let updated = try await CampaignService(database).update(id: fixture.campaign.id, selfAssign: true,
                                                                     batchSize: 25, maxOpen: 40)
            #expect(updated.settings == SelfAssignSettings(selfAssign: true, batchSize: 25, maxOpen: 40))
            let cleared = try await CampaignService(database).update(id: fixture.campaign.id, clearMaxOpen: true)
            #expect(cleared.settings.maxOpen == nil)
        }
    }

    @Test("deactivated senders stay on the list with their conversations")
    func deactivate() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            try await SenderService(database).deactivate(campaignID: fixture.campaign.id, handle: "kevin")
            let list = try await SenderService(database).list(campaignID: fixture.campaign.id)
            #expect(list.senders.first { $0.handle == "kevin" }?.active == false)
            await expectCode("not_a_sender") {
                try await SenderService(database).deactivate(campaignID: fixture.campaign.id, handle: "ada")
            }
        }
    }

    @Test("the sender list gives each sender's counts by status in handle order, and folds piled-up deltas")
    func senderList() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, senders: ["kevin", "k.z", "rebecca"], conversations: 30)
            let campaign = fixture.campaign.id
            // One raw statement per change: each writes its own count deltas, which pile up.
            let statuses = ConversationStatus.allCases.map(\.rawValue)
            for index in 0..<60 {
                try await database.query("""
                    UPDATE conversations SET
                        assignee_id = (SELECT id FROM users WHERE org_id = \(fixture.org.id)
                                       AND handle = \(["kevin", "rebecca", "k.z"][index % 3])),
                        status = \(statuses[index % statuses.count])
                    WHERE campaign_id = \(campaign)
                      AND id = (SELECT min(id) FROM conversations WHERE campaign_id = \(campaign)) + \(index % 24)
                    """)
            }
            func deltaRows() async throws -> Int {
                try await database.query("SELECT count(*) FROM conversation_counts WHERE campaign_id = \(campaign)")[0]
                    .decode(Int.self)
            }
            let piled = try await deltaRows()
            let list = try await SenderService(database).list(campaignID: campaign)
            #expect(list.senders.map(\.handle) == ["k.z", "kevin", "rebecca"])
            var listed: [String: Int] = [:]
            for sender in list.senders {
                for (status, n) in sender.counts.byStatus { listed["\(sender.handle) \(status.rawValue)"] = n }
            }
            for (status, n) in list.unassigned.byStatus { listed["- \(status.rawValue)"] = n }
            var actual: [String: Int] = [:]
            for row in try await database.query("""
                SELECT coalesce(u.handle, '-'), c.status, count(*) FROM conversations c
                LEFT JOIN users u ON u.id = c.assignee_id WHERE c.campaign_id = \(campaign) GROUP BY 1, 2
                """) {
                let (handle, status, n) = try row.decode((String, String, Int).self)
                actual["\(handle) \(status)"] = n
            }
            #expect(listed == actual)
            #expect(listed.count > 8)
            // The list folded the deltas it summed.
            #expect(piled > 2 * listed.count + 64)
            #expect(try await deltaRows() == listed.count)
            #expect(try await SenderService(database).list(campaignID: campaign) == list)

            let empty = try await Fixture.make(database, senders: [], conversations: 4, orgName: "Empty")
            let emptyList = try await SenderService(database).list(campaignID: empty.campaign.id)
            #expect(emptyList.senders.isEmpty && emptyList.unassigned[.notStarted] == 4)
            await expectCode("unknown_campaign") { _ = try await SenderService(database).list(campaignID: 424242) }
        }
    }

    @Test("tokens authenticate their user until revoked; only a hash is stored")
    func tokens() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let directory = Directory(database)
            let token = try await directory.createToken(orgID: fixture.org.id, handle: "ada")
            #expect(try await directory.authenticate(token: token)?.handle == "ada")
            #expect(try await directory.authenticate(token: token + "x") == nil)
            let stored = try await database.query("SELECT count(*) FROM api_tokens WHERE token_hash = convert_to(\(token), 'UTF8')")
            #expect(try stored[0].decode(Int.self) == 0)
            try await directory.revokeToken(token)
            #expect(try await directory.authenticate(token: token) == nil)
        }
    }

    @Test("the conversation list filters and pages with a cursor")
    func listing() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 25)
            let service = ConversationService(database)
            var seen: [Int64] = []
            var cursor: String? = nil
            repeat {
                let page = try await service.list(campaignID: fixture.campaign.id, limit: 10, cursor: cursor)
                seen += page.conversations.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen.count == 25 && seen == seen.sorted() && Set(seen).count == 25)
            let none = try await service.list(campaignID: fixture.campaign.id, assignee: .sender("kevin"))
            #expect(none.conversations.isEmpty)
            await expectCode("invalid_limit") { _ = try await service.list(campaignID: fixture.campaign.id, limit: 0) }
            await expectCode("invalid_cursor") { _ = try await service.list(campaignID: fixture.campaign.id, cursor: "x") }
        }
    }

    @Test("database URLs parse, and one that does not connect is a clear operational failure")
    func databaseURLs() async throws {
        let url = try DatabaseURL(parsing: "postgres://me:s%40cret@db.example:6543/app?sslmode=disable")
        #expect(url.user == "me" && url.password == "s@cret" && url.host == "db.example" && url.port == 6543)
        #expect(url.database == "app" && url.description == "postgres://me:***@db.example:6543/app?sslmode=disable")
        #expect(throws: SwitchboardError.self) { try DatabaseURL(parsing: "mysql://x@y/z") }
        // A URL that does not parse is named without its password, however it is broken.
        for broken in ["postgres://me:s3cr3t@db.example:port/app", "postgres://me:s3cr3t@[db/app", "postgres://me:s3cr3t@db example/app",
                       "mysql://me:s3cr3t@db/app", "postgres://db/app?user=me&password=s3cr3t&sslmode=bogus",
                       "postgres://me:s3c@r3t@db/app?sslmode=nope"] {
            do {
                _ = try DatabaseURL(parsing: broken)
                Issue.record("\(broken) parsed")
            } catch {
                #expect(error.code == "invalid_database_url" && !error.message.contains("s3cr3t")
                        && !error.message.contains("r3t"), "\(error.message)")
            }
        }
        let closed = try DatabaseURL(parsing: "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
        await #expect {
            try await Database.withDatabase(url: closed) { _ in }
        } throws: { error in
            (error as? SwitchboardError)?.code == "database_unavailable"
        }
    }
}

/// Expects `body` to throw a `SwitchboardError` with `code`.
func expectCode(_ code: String, containing fragment: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as SwitchboardError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        if let fragment {
            #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected \(code), got \(String(reflecting: error))", sourceLocation: sourceLocation)
    }
}
