import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Selection over HTTP: the bodies' `filter` and `conversation_ids`, the list's and export's query parameters, and
/// preview tokens; every answer checked against openapi.yaml.
@Suite("HTTP API: selection")
struct SelectionAPITests {
    @Test("filters in bodies and queries, a preview token that binds, and bad input that names the value")
    func selection() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let ids = try await w.fixture.conversationIDs()
            _ = try await RoutingService(database).addTags(conversationID: ids[1], tags: ["vip"])
            _ = try await RoutingService(database).addTags(conversationID: ids[4], tags: ["vip"])
            // The list and the export take the same filter as query parameters.
            var r = try await client.call(.get, "/v1/campaigns/\(c)/conversations?tag=vip", token: w.ada)
            #expect((r.json["conversations"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [ids[1], ids[4]].map(Int.init))
            r = try await client.call(.get, "/v1/campaigns/\(c)/conversations?search=contact%203&conversation_ids=\(ids[2]),\(ids[3])", token: w.ada)
            #expect((r.json["conversations"] as? [[String: Any]])?.count == 1)
            r = try await client.call(.get, "/v1/campaigns/\(c)/export?without_tag=vip", token: w.ada)
            #expect(r.status == .ok && r.text.split(separator: "\n").count == 5)
            r = try await client.call(.get, "/v1/campaigns/\(c)/export?last_message_before=soon", token: w.ada)
            #expect(r.status == .unprocessableContent && r.code == "invalid_time" && r.text.contains("soon"))

            // A dry run returns a token; a conversation tagged after it is not moved with it.
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada, """
                {"source": {"unassigned": true}, "to": ["kevin"], "filter": {"tags": ["vip"]}, "dry_run": true}
                """)
            #expect(r.json["matched"] as? Int == 2)
            let token = try #require(r.json["preview_token"] as? String)
            _ = try await RoutingService(database).addTags(conversationID: ids[0], tags: ["vip"])
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada, """
                {"source": {"unassigned": true}, "to": ["rebecca"], "filter": {"tags": ["vip"]}, "preview_token": "\(token)"}
                """)
            #expect(r.status == .conflict && r.code == "preview_mismatch")
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada, """
                {"source": {"unassigned": true}, "to": ["kevin"], "filter": {"tags": ["vip"]}, "preview_token": "\(token)"}
                """)
            #expect(r.status == .ok && r.json["moved"] as? Int == 2 && r.json["no_longer_matching"] as? Int == 0)
            #expect(try await w.fixture.assignees() == [nil, "kevin", nil, nil, "kevin", nil])
            r = try await client.call(.get, "/v1/campaigns/\(c)/history", token: w.ada)
            let batches = try #require(r.json["batches"] as? [[String: Any]])
            #expect((batches.first?["parameters"] as? [String: String])?["filter"] == "tag=vip")

            // Hand-picked, with Unassign All: the confirmation binds them.
            r = try await client.call(.post, "/v1/campaigns/\(c)/unassign-all/preview", token: w.ada,
                                      #"{"from": "kevin", "conversation_ids": [\#(ids[4])]}"#)
            let confirmation = try #require(r.json["confirmation_token"] as? String)
            #expect(r.json["count"] as? Int == 1)
            r = try await client.call(.post, "/v1/campaigns/\(c)/unassign-all", token: w.ada,
                                      #"{"from": "kevin", "confirmation_token": "\#(confirmation)"}"#)
            #expect(r.status == .conflict && r.code == "invalid_confirmation")
            r = try await client.call(.post, "/v1/campaigns/\(c)/unassign-all", token: w.ada,
                                      #"{"from": "kevin", "conversation_ids": [\#(ids[4])], "confirmation_token": "\#(confirmation)"}"#)
            #expect(r.json["moved"] as? Int == 1)

            // Tag every matching conversation at once.
            r = try await client.call(.post, "/v1/campaigns/\(c)/tags", token: w.ada,
                                      #"{"add": ["Follow-Up"], "filter": {"without_tags": ["vip"]}}"#)
            #expect(r.status == .ok && r.json["changed"] as? Int == 3 && r.json["tags"] as? [String] == ["follow-up"])
            r = try await client.call(.post, "/v1/campaigns/\(c)/tags", token: w.kevin, #"{"add": ["x"]}"#)
            #expect(r.status == .forbidden)
            r = try await client.call(.post, "/v1/campaigns/\(c)/tags", token: w.ada, #"{"add": ["x"], "remove": ["y"]}"#)
            #expect(r.status == .unprocessableContent && r.code == "invalid_field")
            r = try await client.call(.post, "/v1/campaigns/\(c)/tags", token: w.ada,
                                      #"{"remove": ["follow-up"], "conversation_ids": [\#(ids[2])]}"#)
            #expect(r.json["changed"] as? Int == 1)

            // Bad input: named, 422, nothing changed.
            let other = try await w.other.conversationIDs()[0]
            for (body, code, named) in [
                (#"{"source": {"anyone": true}, "to": ["kevin"], "conversation_ids": [\#(other)]}"#, "unknown_conversation", "\(other)"),
                (#"{"source": {"anyone": true}, "to": ["kevin"], "filter": {"tags": [""]}}"#, "invalid_tag", "tag"),
                (#"{"source": {"anyone": true}, "to": ["kevin"], "filter": {"last_message_after": "2 days"}}"#, "invalid_time", "2 days"),
                (#"{"source": {"anyone": true}, "to": ["kevin"], "filter": {"colour": "red"}}"#, "unknown_field", "colour"),
                (#"{"source": {"anyone": true}, "to": ["kevin"], "filter": {"fields": {"county": 3}}}"#, "invalid_field", "county"),
                (#"{"source": {"anyone": true}, "to": ["kevin"], "conversation_ids": ["x"]}"#, "invalid_field", "conversation_ids"),
            ] {
                r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada, body)
                #expect(r.status == .unprocessableContent && r.code == code && r.text.contains(named), "\(body) → \(r.text)")
            }
            #expect(try await w.fixture.assignees() == [nil, "kevin", nil, nil, nil, nil])
            #expect(try await w.fixture.countsAddUp())
        }
    }
}
