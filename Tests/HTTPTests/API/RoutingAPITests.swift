import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Routing over HTTP")
struct RoutingAPITests {
    @Test("policy, availability, skills, tags, a routed reply, backlog, escalation, handoff and stale release over HTTP")
    func walkthrough() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let ids = try await w.fixture.conversationIDs()
            var r = try await client.call(.put, "/v1/campaigns/\(c)/routing", token: w.ada,
                                          #"{"policy": "least-loaded", "release_stale_after": 30}"#)
            #expect(r.status == .ok && r.json["routing_policy"] as? String == "least_loaded" && r.json["release_stale_after"] as? Int == 30)
            r = try await client.call(.put, "/v1/campaigns/\(c)/routing", token: w.ada, #"{"release_stale_after": null}"#)
            #expect(r.json["release_stale_after"] is NSNull && r.json["routing_policy"] as? String == "least_loaded")
            // kevin marks himself away; a texter may not set someone else's availability.
            r = try await client.call(.post, "/v1/campaigns/\(c)/me/availability", token: w.kevin, #"{"available": false}"#)
            #expect(r.status == .ok && r.json["handle"] as? String == "kevin" && r.json["available"] as? Bool == false)
            r = try await client.call(.post, "/v1/campaigns/\(c)/me/availability", token: w.kevin,
                                      #"{"available": false, "handle": "rebecca"}"#)
            #expect(r.status == .forbidden)
            // A reply nobody owns goes to rebecca, the only available sender.
            r = try await client.call(.post, "/v1/conversations/\(ids[0])/messages", token: w.ada, #"{"direction": "in", "body": "Hi"}"#)
            #expect(r.status == .created && (r.json["conversation"] as? [String: Any])?["assignee"] as? String == "rebecca")
            r = try await client.call(.get, "/v1/campaigns/\(c)/senders", token: w.ada)
            let senders = r.json["senders"] as? [[String: Any]] ?? []
            #expect(senders.map { $0["available"] as? Bool } == [false, true] && r.json["routing_backlog"] as? Int == 0)
            // Rebecca away too: the next reply waits in the backlog.
            r = try await client.call(.post, "/v1/campaigns/\(c)/me/availability", token: w.ada,
                                      #"{"available": false, "handle": "rebecca"}"#)
            #expect(r.status == .ok)
            _ = try await client.call(.post, "/v1/conversations/\(ids[1])/messages", token: w.ada, #"{"direction": "in", "body": "Hello?"}"#)
            r = try await client.call(.get, "/v1/campaigns/\(c)/routing/backlog", token: w.ada)
            #expect(r.json["count"] as? Int == 1 && (r.json["conversations"] as? [[String: Any]])?.first?["id"] as? Int == Int(ids[1]))
            #expect(try await client.call(.get, "/v1/campaigns/\(c)/routing/backlog", token: w.kevin).status == .forbidden)
            // Skills and tags.
            r = try await client.call(.post, "/v1/campaigns/\(c)/senders/kevin/skills", token: w.ada, #"{"skills": ["billing", "spanish"]}"#)
            #expect(r.json["skills"] as? [String] == ["billing", "spanish"])
            r = try await client.call(.delete, "/v1/campaigns/\(c)/senders/kevin/skills/spanish", token: w.ada)
            #expect(r.json["skills"] as? [String] == ["billing"])
            r = try await client.call(.get, "/v1/campaigns/\(c)/skills", token: w.ada)
            #expect((r.json["skills"] as? [String: [String]]) == ["kevin": ["billing"]])
            r = try await client.call(.post, "/v1/conversations/\(ids[1])/tags", token: w.ada, #"{"tags": ["billing"]}"#)
            #expect(r.json["tags"] as? [String] == ["billing"])
            #expect(try await client.call(.get, "/v1/conversations/\(ids[1])/tags", token: w.kevin).json["tags"] as? [String] == ["billing"])
            #expect(try await client.call(.post, "/v1/conversations/\(ids[1])/tags", token: w.kevin, #"{"tags": ["x"]}"#).status == .forbidden)
            // Escalation: kevin has the skill but is away, so nobody can take it, and the sentence says why.
            r = try await client.call(.put, "/v1/conversations/\(ids[1])/assignee", token: w.ada, #"{"skill": "billing"}"#)
            #expect(r.status == .conflict && r.code == "no_sender_available" && (r.json["error"] as? [String: Any])?["message"] as? String
                    == "Nobody with the skill 'billing' can take conversation \(ids[1]): kevin is away.")
            _ = try await client.call(.post, "/v1/campaigns/\(c)/me/availability", token: w.kevin, #"{"available": true}"#)
            r = try await client.call(.put, "/v1/conversations/\(ids[1])/assignee", token: w.ada,
                                      #"{"skill": "billing", "note": "invoice question"}"#)
            #expect(r.status == .ok && (r.json["per_sender"] as? [[String: Any]])?.first?["handle"] as? String == "kevin")
            let escalated = try #require(r.json["batch_id"] as? Int)
            r = try await client.call(.get, "/v1/batches/\(escalated)", token: w.ada)
            #expect(r.json["note"] as? String == "invoice question" && (r.json["parameters"] as? [String: String])?["to_skill"] == "billing")
            // Handoff: kevin's shift ends; his open conversations go to rebecca; replayed by its key.
            let body = #"{"from": "kevin", "to": "rebecca", "note": "end of shift"}"#
            r = try await client.call(.post, "/v1/campaigns/\(c)/handoff", token: w.ada, body, headers: [.init("Idempotency-Key")!: "h1"])
            #expect(r.status == .ok && r.json["operation"] as? String == "handoff" && r.json["moved"] as? Int == 1)
            let again = try await client.call(.post, "/v1/campaigns/\(c)/handoff", token: w.ada, body,
                                              headers: [.init("Idempotency-Key")!: "h1"])
            #expect(again.json["batch_id"] as? Int == r.json["batch_id"] as? Int)
            #expect(try await w.fixture.count(of: "rebecca") == 2)
            // Stale release over HTTP: off is a clear 422.
            r = try await client.call(.post, "/v1/campaigns/\(c)/release-stale", token: w.ada, #"{"dry_run": true}"#)
            #expect(r.status == .unprocessableContent && r.code == "release_stale_off")
            #expect(try await w.fixture.countsAddUp())
            _ = database
        }
    }

    @Test("bad routing input: the clear error, the right status, nothing changed")
    func badInput() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let before = try await w.fixture.assignees()
            let long = String(repeating: "x", count: 501)
            let cases: [(HTTPRequest.Method, String, String?, HTTPResponse.Status, String)] = [
                (.put, "/v1/campaigns/\(c)/routing", #"{"policy": "fastest"}"#, .unprocessableContent, "invalid_policy"),
                (.put, "/v1/campaigns/\(c)/routing", nil, .unprocessableContent, "missing_field"),
                (.put, "/v1/campaigns/\(c)/routing", #"{"fallback": "skill"}"#, .unprocessableContent, "invalid_policy"),
                (.put, "/v1/campaigns/\(c)/routing", #"{"release_stale_after": 0}"#, .unprocessableContent, "invalid_release_stale_after"),
                (.post, "/v1/campaigns/\(c)/handoff", #"{"from": "zzz"}"#, .notFound, "unknown_sender"),
                (.post, "/v1/campaigns/\(c)/handoff", #"{"from": "kevin", "policy": "nope"}"#, .unprocessableContent, "invalid_policy"),
                (.post, "/v1/campaigns/\(c)/handoff", #"{"from": "kevin", "to": "rebecca", "note": "\#(long)"}"#, .unprocessableContent, "invalid_note"),
                (.post, "/v1/campaigns/\(c)/reassign-all", #"{"source": {"unassigned": true}, "to": "all", "note": "\#(long)"}"#, .unprocessableContent, "invalid_note"),
                (.post, "/v1/campaigns/\(c)/senders/kevin/skills", #"{"skills": ["Not OK"]}"#, .unprocessableContent, "invalid_skill"),
                (.post, "/v1/campaigns/\(c)/senders/ada/skills", #"{"skills": ["ok"]}"#, .notFound, "not_a_sender"),
                (.delete, "/v1/campaigns/\(c)/senders/kevin/skills/legal", nil, .notFound, "unknown_skill"),
                (.post, "/v1/campaigns/\(c)/me/availability", #"{"available": "no"}"#, .unprocessableContent, "invalid_field"),
                (.get, "/v1/campaigns/\(c)/routing/backlog?limit=0", nil, .unprocessableContent, "invalid_limit"),
            ]
            for (method, path, body, status, code) in cases {
                let r = try await client.call(method, path, token: w.ada, body)
                #expect(r.status == status && r.code == code, "\(method) \(path): \(r.status) \(r.text)")
            }
            let ids = try await w.fixture.conversationIDs()
            let r = try await client.call(.put, "/v1/conversations/\(ids[0])/assignee", token: w.ada, #"{"skill": "legal"}"#)
            #expect(r.status == .unprocessableContent && r.code == "unknown_skill")
            #expect(try await w.fixture.assignees() == before)
            let campaign = try await CampaignService(database).campaign(id: c)
            #expect(campaign.routing == RoutingSettings())
            let list = try await SenderService(database).list(campaignID: c)
            #expect(list.senders.allSatisfy { $0.available && $0.skills.isEmpty })
        }
    }
}
