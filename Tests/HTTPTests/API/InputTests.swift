import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Hardening: text the database refuses, methods, bodies, refusal codes")
struct InputTests {
    func messages(_ database: Database) async throws -> Int {
        try await database.query("SELECT count(*) FROM messages")[0].decode(Int.self)
    }

    @Test("NUL anywhere and over-long text in code points: 422 naming the field, nothing stored")
    func text() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let id = try await w.fixture.conversationIDs()[0]
            var r = try await client.call(.get, "/v1/campaigns/\(c)/conversations?assignee=%00", token: w.ada)
            #expect(r.status == .unprocessableContent && r.code == "invalid_handle", "\(r.status) \(r.text)")
            r = try await client.call(.post, "/v1/conversations/\(id)/messages", token: w.ada,
                                      #"{"direction": "in", "body": "hello\u0000there"}"#)
            #expect(r.status == .unprocessableContent && r.code == "invalid_text", "\(r.status) \(r.text)")
            #expect(r.text.contains("field 'body'"))
            // 400 family emoji: 400 graphemes, 2,800 code points; the table counts code points.
            let family = String(repeating: "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}", count: 400)
            r = try await client.call(.post, "/v1/conversations/\(id)/messages", token: w.ada,
                                      #"{"direction": "in", "body": "\#(family)"}"#)
            #expect(r.status == .unprocessableContent && r.code == "invalid_body", "\(r.status) \(r.text)")
            #expect(r.text.contains("2800"))
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                      #"{"source": {"sender": "ke\u0000vin"}, "to": "all"}"#)
            #expect(r.status == .unprocessableContent, "\(r.status) \(r.text)")
            r = try await client.call(.post, "/v1/campaigns/\(c)/unassign-all/preview", token: w.ada,
                                      #"{"from": "kevin", "status": "any\u0000"}"#)
            #expect(r.status == .unprocessableContent && r.text.contains("field 'status'"), "\(r.status) \(r.text)")
            #expect(try await messages(database) == 0)
            #expect(try await HistoryService(database).campaign(id: c).isEmpty)
        }
        // The CLI's and Core's own checks.
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 0)
            await #expect(throws: SwitchboardError.self) {
                _ = try await CampaignService(database).create(orgID: f.org.id, name: "bad\u{0}name")
            }
            await #expect(throws: SwitchboardError.self) {
                _ = try await ContactImporter(database).importCSV(campaignID: f.campaign.id,
                                                                  data: Data("phone,name\n+15552000001,A\u{0}B\n".utf8),
                                                                  fileName: "nul.csv")
            }
        }
    }

    @Test("TRACE and other unknown methods are 405; a wrong method on a route is 405 with Allow")
    func methods() async throws {
        try await withAPI { client, w, _ in
            var r = try await client.call(HTTPRequest.Method("TRACE")!, "/v1/campaigns/1", token: w.ada)
            #expect(r.status == .methodNotAllowed, "\(r.status) \(r.text)")
            r = try await client.call(.delete, "/healthz", token: nil)
            #expect(r.status == .methodNotAllowed && r.code == "method_not_allowed", "\(r.status) \(r.text)")
            r = try await client.call(.get, "/v1/nothing/here", token: w.ada)
            #expect(r.status == .notFound)
        }
    }

    @Test("close validates its body; a texter who is not an active sender gets not_a_sender")
    func closeAndSenders() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let id = try await w.fixture.conversationIDs()[0]
            var r = try await client.call(.post, "/v1/conversations/\(id)/close", token: w.ada, #"{"x": 1}"#)
            #expect(r.status == .unprocessableContent && r.code == "unknown_field")
            r = try await client.call(.post, "/v1/conversations/\(id)/close", token: w.ada, "not json")
            #expect(r.status == .badRequest)
            r = try await client.call(.post, "/v1/conversations/\(id)/close", token: w.ada,
                                      String(repeating: "x", count: 2 << 20))
            #expect(r.status == .contentTooLarge)
            r = try await client.call(.get, "/v1/campaigns/\(c)", token: w.zed)
            #expect(r.status == .forbidden && r.code == "not_a_sender", "\(r.text)")
            try await SenderService(database).deactivate(campaignID: c, handle: "kevin")
            r = try await client.call(.get, "/v1/campaigns/\(c)", token: w.kevin)
            #expect(r.status == .forbidden && r.code == "not_a_sender", "\(r.text)")
            r = try await client.call(.post, "/v1/conversations/\(id)/close", token: w.kevin, "{}")
            #expect(r.status == .forbidden && r.code == "not_a_sender", "\(r.text)")
            r = try await client.call(.post, "/v1/conversations/\(id)/close", token: w.ada)
            #expect(r.status == .ok)
        }
    }

    @Test("a grant lists exactly the conversations the claim took, as it took them")
    func grantFromClaim() async throws {
        try await withAPI { client, w, _ in
            let c = w.fixture.campaign.id
            let r = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.kevin, #"{"count": 2}"#)
            let granted = try #require(r.json["conversations"] as? [[String: Any]])
            #expect(granted.count == 2)
            #expect(granted.allSatisfy { $0["assignee"] as? String == "kevin" && $0["status"] as? String == "not_started" })
            let ids = granted.compactMap { $0["id"] as? Int }.map(Int64.init)
            #expect(ids == Array(try await w.fixture.conversationIDs().prefix(2)))
        }
    }
}
