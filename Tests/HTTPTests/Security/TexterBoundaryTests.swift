import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Through a token, a texter gets exactly what the console gives them: their own conversations and the unassigned
/// ones of campaigns they send for; nobody else's (Core's `Access`, issue 33).
@Suite("Security: a texter's API boundary")
struct TexterBoundaryTests {
    enum Kind: String, CaseIterable { case own, other, unassigned }

    /// One route on one conversation: what each caller gets for each kind of conversation.
    struct Route: Sendable {
        let name: String
        let method: HTTPRequest.Method
        let path: @Sendable (Int64) -> String
        let body: String?
        /// The manager's answer (admin and organizer).
        let managed: HTTPResponse.Status
        /// kevin's answer (a texter and sender of the campaign), by kind.
        let texter: [Kind: HTTPResponse.Status]
    }

    static let routes: [Route] = [
        Route(name: "reply", method: .post, path: { "/v1/conversations/\($0)/messages" },
              body: #"{"direction": "out", "body": "hello"}"#, managed: .created,
              texter: [.own: .created, .other: .forbidden, .unassigned: .created]),
        Route(name: "close", method: .post, path: { "/v1/conversations/\($0)/close" }, body: nil, managed: .ok,
              texter: [.own: .ok, .other: .forbidden, .unassigned: .forbidden]),
        Route(name: "mark read", method: .post, path: { "/v1/conversations/\($0)/read" }, body: nil, managed: .ok,
              texter: [.own: .ok, .other: .forbidden, .unassigned: .ok]),
        Route(name: "tags", method: .get, path: { "/v1/conversations/\($0)/tags" }, body: nil, managed: .ok,
              texter: [.own: .ok, .other: .forbidden, .unassigned: .ok]),
        Route(name: "tag", method: .post, path: { "/v1/conversations/\($0)/tags" }, body: #"{"tags": ["vip"]}"#,
              managed: .ok, texter: [.own: .forbidden, .other: .forbidden, .unassigned: .forbidden]),
        Route(name: "untag", method: .delete, path: { "/v1/conversations/\($0)/tags/vip" }, body: nil, managed: .ok,
              texter: [.own: .forbidden, .other: .forbidden, .unassigned: .forbidden]),
        Route(name: "reassign", method: .put, path: { "/v1/conversations/\($0)/assignee" },
              body: #"{"handle": "kevin"}"#, managed: .ok,
              texter: [.own: .forbidden, .other: .forbidden, .unassigned: .forbidden]),
        Route(name: "unassign", method: .delete, path: { "/v1/conversations/\($0)/assignee" }, body: nil, managed: .ok,
              texter: [.own: .forbidden, .other: .forbidden, .unassigned: .forbidden]),
        Route(name: "history", method: .get, path: { "/v1/conversations/\($0)/history" }, body: nil, managed: .ok,
              texter: [.own: .forbidden, .other: .forbidden, .unassigned: .forbidden]),
    ]

    @Test("every conversation route × role × own, another's and an unassigned conversation")
    func matrix() async throws {
        try await withAPI { client, w, database in
            let f = w.fixture
            _ = try await Directory(database).addUser(orgID: f.org.id, handle: "root", role: .admin)
            let root = try await Directory(database).createToken(orgID: f.org.id, handle: "root")
            // Managers who send too, so that their replies are recorded (an outbound message needs a sender).
            try await SenderService(database).add(campaignID: f.campaign.id, handles: ["root", "ada"])
            let callers: [(name: String, token: String)] = [("admin", root), ("organizer", w.ada), ("texter", w.kevin),
                                                            ("texter of no campaign", w.zed),
                                                            ("another organization", w.olga)]
            // Three fresh conversations for each cell (a reply or a close changes them), set up at once: their contacts
            // in one import, then each cell's first given to kevin and its second to rebecca, and every one tagged.
            let cells = Self.routes.count * callers.count
            try await Fixture.importContacts(database, campaignID: f.campaign.id, count: 3 * cells, offset: 100)
            let ids = try await database.query("""
                SELECT id FROM conversations WHERE campaign_id = \(f.campaign.id) ORDER BY id DESC LIMIT \(3 * cells)
                """).map { try $0.decode(Int64.self) }.sorted()
            try await database.query("""
                UPDATE conversations c SET assignee_id = u.id
                FROM unnest(\(ids)::bigint[]) WITH ORDINALITY AS pick(id, n)
                JOIN users u ON u.org_id = \(f.org.id) AND u.handle = CASE pick.n % 3 WHEN 1 THEN 'kevin' ELSE 'rebecca' END
                WHERE c.campaign_id = \(f.campaign.id) AND c.id = pick.id AND pick.n % 3 <> 0
                """)
            try await database.query("""
                INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
                SELECT \(f.campaign.id), id, 'vip' FROM unnest(\(ids)::bigint[]) AS t(id)
                """)
            var cell = 0
            for route in Self.routes {
                for caller in callers {
                    let conversation: [Kind: Int64] = [.own: ids[3 * cell], .other: ids[3 * cell + 1],
                                                       .unassigned: ids[3 * cell + 2]]
                    cell += 1
                    for kind in Kind.allCases {
                        let id = try #require(conversation[kind])
                        let reply = try await client.call(route.method, route.path(id), token: caller.token, route.body)
                        let expected: HTTPResponse.Status = switch caller.name {
                        case "admin", "organizer": route.managed
                        case "texter": route.texter[kind]!
                        case "another organization": .notFound
                        default: .forbidden
                        }
                        #expect(reply.status == expected, "\(route.name) as \(caller.name) on \(kind): \(reply.text)")
                        if caller.name == "texter" && expected == .forbidden {
                            // Another's conversation is not theirs; on their own, a manager's route is a role refusal.
                            let texterRoute = route.texter.values.contains { $0 != .forbidden }
                            let code = kind == .other || texterRoute ? "not_your_conversation" : "forbidden"
                            #expect(reply.code == code, "\(route.name) on \(kind): \(reply.text)")
                        }
                    }
                }
            }
            #expect(try await f.countsAddUp())
        }
    }

    @Test("a texter lists their own and the unassigned conversations, never another sender's")
    func listing() async throws {
        try await withAPI { client, w, database in
            let f = w.fixture
            let ids = try await f.conversationIDs()
            let assignments = AssignmentService(database)
            for (index, id) in ids.enumerated() where index < 4 {
                _ = try await assignments.reassign(conversationID: id, to: index % 2 == 0 ? "kevin" : "rebecca", actor: "ada")
            }
            func listed(_ token: String, _ query: String = "") async throws -> (HTTPResponse.Status, [String?], String?) {
                let reply = try await client.call(.get, "/v1/campaigns/\(f.campaign.id)/conversations\(query)", token: token)
                let rows = reply.json["conversations"] as? [[String: Any]] ?? []
                return (reply.status, rows.map { $0["assignee"] as? String }, reply.code)
            }
            let (status, mine, _) = try await listed(w.kevin)
            #expect(status == .ok && mine.count == 4 && mine.filter { $0 == "kevin" }.count == 2 && !mine.contains("rebecca"))
            #expect(try await listed(w.kevin, "?assignee=kevin").1 == ["kevin", "kevin"])
            #expect(try await listed(w.kevin, "?assignee=unassigned").1 == [nil, nil])
            let (refused, _, code) = try await listed(w.kevin, "?assignee=rebecca")
            #expect(refused == .forbidden && code == "not_your_conversation")
            #expect(try await listed(w.ada).1.count == 6)
            #expect(try await listed(w.zed).0 == .forbidden)
            #expect(try await listed(w.olga).0 == .notFound)
        }
    }

    @Test("the rule holds inside the transaction: a conversation given to someone else meanwhile is refused")
    func insideTheTransaction() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let id = try await f.conversationIDs()[0]
            _ = try await AssignmentService(database).reassign(conversationID: id, to: "rebecca", actor: "ada")
            let kevin = try await Directory(database).user(orgID: f.org.id, handle: "kevin")
            let messages = MessageService(database)
            // The route's own check is skipped here: only the check on the locked row stands in the way.
            await #expect(throws: SwitchboardError(.forbidden, "not_your_conversation",
                                                   "Conversation \(id) is assigned to another sender.")) {
                _ = try await messages.record(.conversation(id), direction: .outbound, body: "hi", sender: "kevin",
                                              caller: kevin)
            }
            await #expect(throws: SwitchboardError.self) {
                _ = try await messages.close(conversationID: id, sender: "kevin", caller: kevin)
            }
            let row = try await database.query("SELECT status, (SELECT count(*) FROM messages) FROM conversations WHERE id = \(id)")
            #expect(try row[0].decode((String, Int).self) == ("not_started", 0))
        }
    }
}
