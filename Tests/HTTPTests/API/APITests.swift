import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("HTTP API")
struct APITests {
    @Test("the ThruText walkthrough over HTTP, and every route for the role it is for")
    func walkthrough() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            var r = try await client.call(.get, "/v1/campaigns/\(c)", token: w.kevin)
            #expect(r.status == .ok && r.json["batch_size"] as? Int == 2)
            r = try await client.call(.get, "/v1/campaigns/\(c)/senders", token: w.ada)
            #expect((r.json["unassigned"] as? [String: Any])?["total"] as? Int == 6)
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                      #"{"source": {"unassigned": true}, "status": "any", "to": "all", "dry_run": true}"#)
            #expect(r.status == .ok && r.json["dry_run"] as? Bool == true && r.json["moved"] as? Int == 6)
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                      #"{"source": {"unassigned": true}, "to": "all"}"#)
            #expect(r.json["moved"] as? Int == 6 && (r.json["per_sender"] as? [[String: Any]])?.count == 2)
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada,
                                      #"{"source": {"sender": "kevin"}, "status": "not-started", "to": ["rebecca"], "count": 1}"#)
            #expect(r.json["moved"] as? Int == 1 && r.json["requested"] as? Int == 1)
            let ids = try await w.fixture.conversationIDs()
            r = try await client.call(.put, "/v1/conversations/\(ids[5])/assignee", token: w.ada, #"{"handle": "kevin"}"#)
            #expect(r.json["moved"] as? Int == 1)
            r = try await client.call(.delete, "/v1/conversations/\(ids[5])/assignee", token: w.ada)
            #expect(r.json["moved"] as? Int == 1 && r.json["operation"] as? String == "reassign")
            r = try await client.call(.post, "/v1/campaigns/\(c)/unassign-all/preview", token: w.ada, #"{"from": "kevin"}"#)
            let token = try #require(r.json["confirmation_token"] as? String)
            #expect(r.json["count"] as? Int == 2 && r.json["expires_at"] != nil)
            r = try await client.call(.post, "/v1/campaigns/\(c)/unassign-all", token: w.ada,
                                      #"{"from": "kevin", "confirmation_token": "\#(token)"}"#)
            #expect(r.json["moved"] as? Int == 2)
            let batch = try #require(r.json["batch_id"] as? Int)
            r = try await client.call(.post, "/v1/campaigns/\(c)/unassign-all", token: w.ada,
                                      #"{"from": "kevin", "confirmation_token": "\#(token)"}"#)
            #expect(r.status == .conflict && r.code == "invalid_confirmation")
            r = try await client.call(.get, "/v1/batches/\(batch)", token: w.ada)
            #expect(r.json["kind"] as? String == "unassign_all")
            r = try await client.call(.post, "/v1/batches/\(batch)/undo", token: w.ada)
            #expect(r.json["moved"] as? Int == 2 && r.json["skipped"] as? Int == 0)
            r = try await client.call(.post, "/v1/batches/\(batch)/undo", token: w.ada)
            #expect(r.status == .conflict && r.code == "already_undone")

            // Texter routes.
            r = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.rebecca, #"{"count": 5}"#)
            #expect(r.status == .ok && r.json["moved"] as? Int == 1 && (r.json["conversations"] as? [Any])?.count == 1, "one left in the pool")
            r = try await client.call(.post, "/v1/campaigns/\(c)/release", token: w.rebecca)
            #expect(r.status == .ok && r.json["operation"] as? String == "release")
            r = try await client.call(.get, "/v1/me/conversations?status=open&campaign=\(c)", token: w.kevin)
            let mine = try #require(r.json["conversations"] as? [[String: Any]])
            #expect(mine.count == 2 && mine.allSatisfy { $0["assignee"] as? String == "kevin" })
            r = try await client.call(.post, "/v1/conversations/\(ids[0])/messages", token: w.kevin, #"{"direction": "out", "body": "Hi!"}"#)
            #expect(r.status == .created && (r.json["conversation"] as? [String: Any])?["status"] as? String == "waiting")
            r = try await client.call(.post, "/v1/conversations/\(ids[0])/messages", token: w.ada, #"{"direction": "in", "body": "STOP"}"#)
            #expect((r.json["conversation"] as? [String: Any])?["status"] as? String == "opted_out")
            r = try await client.call(.post, "/v1/conversations/\(ids[0])/messages", token: w.kevin, #"{"direction": "out", "body": "?"}"#)
            #expect(r.status == .conflict && r.code == "opted_out")
            r = try await client.call(.post, "/v1/conversations/\(ids[1])/close", token: w.kevin)
            #expect(r.json["status"] as? String == "closed")
            r = try await client.call(.get, "/v1/campaigns/\(c)/conversations?assignee=unassigned&limit=2", token: w.kevin)
            #expect((r.json["conversations"] as? [Any])?.count == 2 && r.json["next_cursor"] is String)
            r = try await client.call(.get, "/healthz", token: nil)
            #expect(r.status == .ok)
            #expect(try await w.fixture.countsAddUp())
        }
    }

    @Test("role boundaries: a texter may not run organizer routes, nor act for someone else")
    func roles() async throws {
        try await withAPI { client, w, _ in
            let c = w.fixture.campaign.id
            let id = try await w.fixture.conversationIDs()[0]
            let batch = try #require(try await w.fixture.assignments.reassignAll(w.fixture.request(.unassigned, .allActive)).batchID)
            let organizerRoutes: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/campaigns/\(c)/senders", nil),
                (.post, "/v1/campaigns/\(c)/reassign-all", #"{"source": {"anyone": true}, "to": "all"}"#),
                (.post, "/v1/campaigns/\(c)/reassign-some", #"{"source": {"anyone": true}, "to": "all", "count": 1}"#),
                (.post, "/v1/campaigns/\(c)/unassign-all/preview", #"{"from": "kevin"}"#),
                (.post, "/v1/campaigns/\(c)/unassign-all", #"{"from": "kevin", "confirmation_token": "x"}"#),
                (.put, "/v1/conversations/\(id)/assignee", #"{"handle": "kevin"}"#),
                (.delete, "/v1/conversations/\(id)/assignee", nil),
                (.get, "/v1/batches/\(batch)", nil),
                (.post, "/v1/batches/\(batch)/undo", nil),
            ]
            for (method, uri, body) in organizerRoutes {
                let r = try await client.call(method, uri, token: w.kevin, body)
                #expect(r.status == .forbidden && r.code == "forbidden", "\(method) \(uri): \(r.status)")
            }
            var r = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.kevin, #"{"sender": "rebecca"}"#)
            #expect(r.status == .forbidden)
            r = try await client.call(.post, "/v1/campaigns/\(c)/release", token: w.kevin, #"{"sender": "rebecca"}"#)
            #expect(r.status == .forbidden)
            r = try await client.call(.get, "/v1/campaigns/\(c)", token: w.zed)
            #expect(r.status == .forbidden, "zed sends for no campaign")
            r = try await client.call(.post, "/v1/conversations/\(id)/messages", token: w.kevin, #"{"direction": "in", "body": "x"}"#)
            #expect(r.status == .forbidden)
            #expect(try await w.fixture.count(of: nil) == 0)
        }
    }

    @Test("another organization's campaign, conversation or batch is a 404 on every route")
    func isolation() async throws {
        try await withAPI { client, w, _ in
            let c = w.fixture.campaign.id
            let id = try await w.fixture.conversationIDs()[0]
            let batch = try #require(try await w.fixture.assignments.reassignAll(w.fixture.request(.unassigned, .allActive)).batchID)
            let routes: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/campaigns/\(c)", nil),
                (.get, "/v1/campaigns/\(c)/senders", nil),
                (.get, "/v1/campaigns/\(c)/conversations", nil),
                (.post, "/v1/campaigns/\(c)/reassign-all", #"{"source": {"anyone": true}, "to": "all"}"#),
                (.post, "/v1/campaigns/\(c)/reassign-some", #"{"source": {"anyone": true}, "to": "all", "count": 1}"#),
                (.post, "/v1/campaigns/\(c)/unassign-all/preview", #"{"from": "kevin"}"#),
                (.post, "/v1/campaigns/\(c)/unassign-all", #"{"from": "kevin", "confirmation_token": "x"}"#),
                (.post, "/v1/campaigns/\(c)/requests", nil),
                (.post, "/v1/campaigns/\(c)/release", nil),
                (.put, "/v1/conversations/\(id)/assignee", #"{"handle": "kevin"}"#),
                (.delete, "/v1/conversations/\(id)/assignee", nil),
                (.post, "/v1/conversations/\(id)/messages", #"{"direction": "out", "body": "hi"}"#),
                (.post, "/v1/conversations/\(id)/close", nil),
                (.get, "/v1/batches/\(batch)", nil),
                (.post, "/v1/batches/\(batch)/undo", nil),
                (.get, "/v1/me/conversations?campaign=\(c)", nil),
            ]
            for (method, uri, body) in routes {
                let r = try await client.call(method, uri, token: w.olga, body)
                #expect(r.status == .notFound, "\(method) \(uri): \(r.status) \(r.text)")
            }
            #expect(try await w.fixture.count(of: "kevin") == 3)
        }
    }

    @Test("Idempotency-Key: the same key and body replay the first result; another body is a 409")
    func idempotency() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "abc-123"]
            let body = #"{"source": {"unassigned": true}, "to": ["kevin"], "count": 2}"#
            let first = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada, body, headers: key)
            let again = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada, body, headers: key)
            #expect(first.status == .ok && again.status == .ok && first.text == again.text)
            #expect(try await w.fixture.count(of: "kevin") == 2)
            let other = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada,
                                              #"{"source": {"unassigned": true}, "to": ["kevin"], "count": 3}"#, headers: key)
            #expect(other.status == .conflict && other.code == "idempotency_key_reused")
            // A failed request leaves no record, so the same key can be used once it is fixed.
            let bad = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                            #"{"source": {"sender": "ghost"}, "to": "all"}"#,
                                            headers: [HTTPField.Name("Idempotency-Key")!: "k2"])
            #expect(bad.status == .notFound)
            let good = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                             #"{"source": {"sender": "ghost"}, "to": "all"}"#,
                                             headers: [HTTPField.Name("Idempotency-Key")!: "k2"])
            #expect(good.status == .notFound)
            let rows = try await database.query("SELECT count(*) FROM idempotency_keys")
            #expect(try rows[0].decode(Int.self) == 1)
        }
    }

    @Test("bad requests: a clear JSON error with the right status, never a 500, nothing changed")
    func errors() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let uri = "/v1/campaigns/\(c)/reassign-some"
            let cases: [(String?, String?, HTTPResponse.Status, String)] = [
                (w.ada, "{not json", .badRequest, "bad_request"),
                (w.ada, #"["a list"]"#, .badRequest, "bad_request"),
                (w.ada, #"{"source": {"anyone": true}, "to": "all", "count": "ten"}"#, .unprocessableContent, "invalid_field"),
                (w.ada, #"{"source": {"anyone": true}, "to": "all", "count": -1}"#, .unprocessableContent, "invalid_count"),
                (w.ada, #"{"source": {"anyone": true}, "to": "all"}"#, .unprocessableContent, "missing_field"),
                (w.ada, #"{"source": {"anyone": true}, "to": "all", "count": 1, "colour": "red"}"#, .unprocessableContent, "unknown_field"),
                (w.ada, #"{"source": {"nobody": true}, "to": "all", "count": 1}"#, .unprocessableContent, "invalid_source"),
                (w.ada, #"{"source": {"anyone": true}, "to": 7, "count": 1}"#, .unprocessableContent, "invalid_field"),
                (w.ada, #"{"source": {"anyone": true}, "to": ["ghost"], "count": 1}"#, .notFound, "unknown_sender"),
                (w.ada, #"{"source": {"anyone": true}, "status": "maybe", "to": "all", "count": 1}"#, .unprocessableContent, "invalid_status"),
                (w.ada, #"{"source": {"anyone": true}, "to": "all", "count": 1, "dry_run": "yes"}"#, .unprocessableContent, "invalid_field"),
                (nil, #"{"source": {"anyone": true}, "to": "all", "count": 1}"#, .unauthorized, "unauthorized"),
                ("sb_nonsense", #"{"source": {"anyone": true}, "to": "all", "count": 1}"#, .unauthorized, "unauthorized"),
            ]
            for (token, body, status, code) in cases {
                let r = try await client.call(.post, uri, token: token, body)
                #expect(r.status == status && r.code == code, "\(body ?? ""): \(r.status) \(r.text)")
            }
            let big = "{\"source\": {\"anyone\": true}, \"to\": \"all\", \"count\": 1, \"pad\": \"" + String(repeating: "x", count: 1 << 20) + "\"}"
            var r = try await client.call(.post, uri, token: w.ada, big)
            #expect(r.status == .contentTooLarge && r.code == "body_too_large", "\(r.status) \(r.text)")
            r = try await client.call(.get, "/v1/campaigns/abc", token: w.ada)
            #expect(r.status == .badRequest && r.code == "bad_request")
            r = try await client.call(.get, "/v1/campaigns/999999", token: w.ada)
            #expect(r.status == .notFound && r.code == "unknown_campaign")
            try await Directory(database).revokeToken(w.rebecca)
            r = try await client.call(.get, "/v1/me/conversations", token: w.rebecca)
            #expect(r.status == .unauthorized)
            #expect(try await w.fixture.count(of: nil) == 6)
            #expect(try await HistoryService(database).campaign(id: c).isEmpty)
        }
    }

    @Test("the OpenAPI document lists exactly the router's API routes")
    func openAPI() async throws {
        try await TestDatabase.with { database in
            let router = buildRouter(database: database)
            let served = Set(router.routes.map { route -> String in
                let path = "\(route.path)".split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                return "\(route.method.rawValue.lowercased()) /" + path.joined(separator: "/")
            }.filter { $0.contains(" /v1/") || $0.hasSuffix(" /healthz") || $0.hasSuffix(" /openapi.yaml") })
            var documented = Set<String>()
            var current = ""
            for line in OpenAPI.document.split(separator: "\n") {
                if line.hasPrefix("  /") { current = String(line.dropFirst(2).dropLast()) }
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("    "), !line.hasPrefix("     "), ["get:", "post:", "put:", "patch:", "delete:"].contains(trimmed), !current.isEmpty {
                    documented.insert("\(trimmed.dropLast()) \(current)")
                }
            }
            #expect(served == documented, "only served: \(served.subtracting(documented)); only documented: \(documented.subtracting(served))")
        }
    }
}
