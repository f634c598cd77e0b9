import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Teams and request approval over HTTP; every answer checked against openapi.yaml.
@Suite("HTTP API: teams and request approval")
struct TeamAPITests {
    @Test("teams: create, members, a team as target and as escalation, a campaign limited to teams; bad input names the value")
    func teams() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            var r = try await client.call(.post, "/v1/teams", token: w.ada, #"{"name": "spanish"}"#)
            #expect(r.status == .created && r.json["name"] as? String == "spanish")
            r = try await client.call(.post, "/v1/teams", token: w.kevin, #"{"name": "mine"}"#)
            #expect(r.status == .forbidden)
            r = try await client.call(.post, "/v1/teams", token: w.ada, #"{"name": "spanish"}"#)
            #expect(r.status == .conflict && r.code == "team_exists")
            r = try await client.call(.post, "/v1/teams/spanish/members", token: w.ada, #"{"add": ["rebecca", "kevin"]}"#)
            #expect(r.json["members"] as? [String] == ["kevin", "rebecca"])
            r = try await client.call(.post, "/v1/teams/french/members", token: w.ada, #"{"add": ["kevin"]}"#)
            #expect(r.status == .notFound && r.code == "unknown_team" && r.text.contains("french"))
            r = try await client.call(.get, "/v1/teams", token: w.kevin)
            #expect((r.json["teams"] as? [[String: Any]])?.first?["members"] as? [String] == ["kevin", "rebecca"])
            r = try await client.call(.get, "/v1/teams", token: w.olga)
            #expect((r.json["teams"] as? [[String: Any]])?.isEmpty == true, "another organization sees none")

            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                      #"{"source": {"unassigned": true}, "to": {"team": "spanish"}}"#)
            #expect(r.status == .ok && r.json["moved"] as? Int == 6)
            #expect((r.json["per_sender"] as? [[String: Any]])?.map { $0["received"] as? Int } == [3, 3])
            r = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                      #"{"source": {"sender": "kevin"}, "to": {"team": "nobody"}}"#)
            #expect(r.status == .notFound && r.code == "unknown_team")
            let ids = try await w.fixture.conversationIDs()
            r = try await client.call(.put, "/v1/conversations/\(ids[0])/assignee", token: w.ada, #"{"team": "spanish"}"#)
            #expect(r.status == .ok && (r.json["per_sender"] as? [[String: Any]])?.first?["handle"] as? String == "rebecca")
            r = try await client.call(.put, "/v1/conversations/\(ids[0])/assignee", token: w.ada,
                                      #"{"team": "spanish", "skill": "x"}"#)
            #expect(r.status == .unprocessableContent && r.code == "conflicting_target")

            // A wrong team name changes none of the other settings in the same body.
            r = try await client.call(.patch, "/v1/campaigns/\(c)", token: w.ada, #"{"batch_size": 9, "teams": ["nope"]}"#)
            #expect(r.status == .notFound && r.code == "unknown_team")
            #expect(try await CampaignService(database).campaign(id: c).settings.batchSize == 2)

            // Limited to a team zed is not in: zed cannot be added.
            r = try await client.call(.patch, "/v1/campaigns/\(c)", token: w.ada,
                                      #"{"teams": ["spanish"], "routing_team": "spanish", "request_approval": true}"#)
            #expect(r.status == .ok && r.json["teams"] as? [String] == ["spanish"] && r.json["routing_team"] as? String == "spanish")
            #expect(r.json["request_approval"] as? Bool == true)
            r = try await client.call(.post, "/v1/campaigns/\(c)/senders", token: w.ada, #"{"handles": ["zed"]}"#)
            #expect(r.status == .forbidden && r.code == "not_in_team" && r.text.contains("zed"))
            r = try await client.call(.patch, "/v1/campaigns/\(c)", token: w.ada, #"{"teams": [], "routing_team": null}"#)
            #expect(r.json["teams"] as? [String] == [] && r.json["routing_team"] is NSNull)
            r = try await client.call(.post, "/v1/campaigns/\(c)/senders", token: w.ada, #"{"handles": ["zed"]}"#)
            #expect(r.status == .ok)
        }
    }

    @Test("request approval: 202 pending, listed, approved once (409 the second time), denied with a note; texters cannot decide")
    func approval() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            var r = try await client.call(.patch, "/v1/campaigns/\(c)", token: w.ada, #"{"request_approval": true}"#)
            #expect(r.status == .ok)
            r = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.kevin, #"{"count": 1}"#)
            #expect(r.status == .accepted && r.json["status"] as? String == "pending")
            let kevin = try #require(r.json["request_id"] as? Int)
            r = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.rebecca, "{}")
            let rebecca = try #require(r.json["request_id"] as? Int)

            r = try await client.call(.get, "/v1/campaigns/\(c)/requests?status=pending", token: w.ada)
            #expect((r.json["requests"] as? [[String: Any]])?.compactMap { $0["request_id"] as? Int } == [rebecca, kevin])
            r = try await client.call(.get, "/v1/campaigns/\(c)/requests", token: w.kevin)
            #expect(r.status == .forbidden)
            r = try await client.call(.get, "/v1/campaigns/\(c)/requests?status=maybe", token: w.ada)
            #expect(r.status == .unprocessableContent && r.text.contains("maybe"))

            r = try await client.call(.post, "/v1/requests/approve", token: w.kevin, #"{"request_ids": [\#(kevin)]}"#)
            #expect(r.status == .forbidden, "a texter cannot approve, not even their own")
            r = try await client.call(.post, "/v1/requests/approve", token: w.ada, #"{"request_ids": [\#(kevin)]}"#)
            let decided = try #require((r.json["requests"] as? [[String: Any]])?.first)
            #expect(decided["status"] as? String == "approved" && decided["granted"] as? Int == 1)
            r = try await client.call(.post, "/v1/requests/approve", token: w.ada, #"{"request_ids": [\#(kevin)]}"#)
            #expect(r.status == .conflict && r.code == "already_decided")
            r = try await client.call(.post, "/v1/requests/deny", token: w.olga, #"{"request_ids": [\#(rebecca)]}"#)
            #expect(r.status == .notFound, "another organization's request does not exist for olga")
            r = try await client.call(.post, "/v1/requests/deny", token: w.ada,
                                      #"{"campaign_id": \#(c), "all": true, "note": "Training first"}"#)
            #expect((r.json["requests"] as? [[String: Any]])?.first?["note"] as? String == "Training first")
            #expect(try await w.fixture.count(of: "kevin") == 1)
            #expect(try await w.fixture.count(of: "rebecca") == 0)

            // The report: kevin holds the one granted; nobody has sent yet.
            r = try await client.call(.get, "/v1/campaigns/\(c)/report", token: w.ada)
            let senders = try #require(r.json["senders"] as? [[String: Any]])
            #expect(senders.first { $0["handle"] as? String == "kevin" }?["held"] as? Int == 1)
            #expect((r.json["needs_reply_age"] as? [[String: Any]])?.count == 4)
            r = try await client.call(.get, "/v1/campaigns/\(c)/report", token: w.kevin)
            #expect(r.status == .forbidden)
        }
    }
}
