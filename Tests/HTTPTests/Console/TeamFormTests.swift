import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Teams and request approval in the console's forms (issue 37), over HTTP.
extension MessengerTests {
    @Test("Teams page: create, add, remove; a team in Reassign's To; the settings limit; texters may not enter")
    func teamForms() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            let ada = try await signIn(client, "ada")
            var answer = try await post(client, "/teams", ada, "name=spanish")
            #expect(answer.status == .seeOther && answer.location?.contains("Created") == true)
            answer = try await post(client, "/teams", ada, "name=Bad+Name")
            #expect(answer.status == .unprocessableContent && answer.body.contains("Bad Name"))
            answer = try await post(client, "/teams/spanish/members", ada, "add=rebecca")
            #expect(answer.status == .seeOther)
            var (status, page) = try await get(client, "/teams", ada)
            #expect(status == .ok && page.contains("Take rebecca out of spanish"))
            let kevin = try await signIn(client, "kevin")
            (status, _) = try await get(client, "/teams", kevin)
            #expect(status == .forbidden)

            // The overview's forms offer the team; choosing it and senders at once is refused.
            (status, page) = try await get(client, "/campaigns/\(c)", ada)
            #expect(page.contains("Or a team") && page.contains("<option value=\"spanish\">spanish</option>"))
            answer = try await post(client, "/campaigns/\(c)/preview", ada,
                                    "op=reassign-all&from=unassigned&status=any&to_team=spanish")
            #expect(answer.status == .ok && answer.body.contains("rebecca"), "\(answer.body.prefix(300))")
            answer = try await post(client, "/campaigns/\(c)/preview", ada,
                                    "op=reassign-all&from=unassigned&status=any&to_team=spanish&to=kevin")
            #expect(answer.body.contains("Choose senders or a team"))

            // Escalation to the team from a conversation's page, and a handoff to it from the Senders page.
            let ids = try await w.fixture.conversationIDs()
            _ = try await AssignmentService(database).reassign(conversationID: ids[0], to: "kevin", actor: "ada")
            (_, page) = try await get(client, "/conversations/\(ids[0])", ada)
            #expect(page.contains("Or to a team"))
            answer = try await post(client, "/conversations/\(ids[0])/assignee", ada, "action=escalate&team=spanish&skill=")
            #expect(answer.status == .seeOther)
            #expect(try await ConversationService(database).conversation(id: ids[0]).assignee == "rebecca")
            _ = try await AssignmentService(database).reassign(conversationID: ids[1], to: "kevin", actor: "ada")
            (_, page) = try await get(client, "/campaigns/\(c)/senders", ada)
            #expect(page.contains("<option value=\"team:spanish\">Team spanish (split evenly)</option>"))
            let key = try #require(page.firstMatch(of: /name="form_key" value="([0-9a-f]+)"/)?.1)
            answer = try await post(client, "/campaigns/\(c)/handoff", ada, "form_key=\(key)&from=kevin&to=team%3Aspanish&status=any")
            #expect(answer.status == .seeOther && answer.location?.removingPercentEncoding?.contains("Handed off 1 conversation from kevin") == true,
                    "\(answer)")
            #expect(try await w.fixture.count(of: "kevin") == 0)

            // Settings: limit to the team, route within it, hold requests.
            answer = try await post(client, "/campaigns/\(c)/teams", ada, "request_approval=on&teams=spanish&routing_team=spanish")
            #expect(answer.status == .seeOther)
            let campaign = try await CampaignService(database).campaign(id: c)
            #expect(campaign.teams == ["spanish"] && campaign.routingTeam == "spanish" && campaign.requestApproval)
            (status, page) = try await get(client, "/campaigns/\(c)/settings", ada)
            #expect(page.contains("value=\"spanish\" checked") && page.contains("name=\"request_approval\" value=\"on\" checked"))
        }
    }

    @Test("Requests tab: a texter's request waits, its page says so; Approve grants; Deny shows its note; Approve all")
    func requestForms() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            _ = try await CampaignService(database).update(id: c, requestApproval: true)
            let kevin = try await signIn(client, "kevin")
            var (_, page) = try await get(client, "/campaigns/\(c)/queue", kevin)
            let key = try #require(page.firstMatch(of: /name="form_key" value="([0-9a-f]+)"/)?.1)
            var answer = try await post(client, "/campaigns/\(c)/request", kevin, "form_key=\(key)")
            #expect(answer.location?.contains("pending=1") == true)
            (_, page) = try await get(client, "/campaigns/\(c)/queue?pending=1", kevin)
            #expect(page.contains("Waiting for approval: you asked for 2 conversations"))
            #expect(!page.contains(">Request Conversations</button>"), "no second request while one waits")

            let ada = try await signIn(client, "ada")
            var status: HTTPResponse.Status
            (status, page) = try await get(client, "/campaigns/\(c)/requests", ada)
            #expect(status == .ok && page.contains("kevin") && page.contains("Approve"))
            let id = try #require(page.firstMatch(of: /name="request_id" value="(\d+)"/)?.1)
            answer = try await post(client, "/campaigns/\(c)/requests", ada, "request_id=\(id)&decision=approve")
            #expect(answer.location?.removingPercentEncoding?.contains("kevin received 2 conversations") == true, "\(answer)")
            answer = try await post(client, "/campaigns/\(c)/requests", ada, "request_id=\(id)&decision=approve")
            #expect(answer.status == .conflict && answer.body.contains("already approved"))
            (status, _) = try await get(client, "/campaigns/\(c)/requests", kevin)
            #expect(status == .forbidden)

            let rebecca = try await signIn(client, "rebecca")
            (_, page) = try await get(client, "/campaigns/\(c)/queue", rebecca)
            let other = try #require(page.firstMatch(of: /name="form_key" value="([0-9a-f]+)"/)?.1)
            _ = try await post(client, "/campaigns/\(c)/request", rebecca, "form_key=\(other)")
            answer = try await post(client, "/campaigns/\(c)/requests", ada, "all=on&decision=deny&note=Training+first")
            #expect(answer.status == .seeOther)
            (_, page) = try await get(client, "/campaigns/\(c)/queue", rebecca)
            #expect(page.contains("denied by ada: Training first"))
            answer = try await post(client, "/campaigns/\(c)/requests", ada, "all=on&decision=approve")
            #expect(answer.status == .conflict && answer.body.contains("No request is waiting"))

            // An admin marks rebecca trusted on the Users page: her next request is granted at once.
            try await database.query("UPDATE users SET role = 'admin' WHERE handle = 'ada'")
            answer = try await post(client, "/users/rebecca/auto-approve", ada, "auto_approve=on")
            #expect(answer.status == .seeOther)
            (_, page) = try await get(client, "/users", ada)
            #expect(page.contains("Granted at once"))
            (_, page) = try await get(client, "/campaigns/\(c)/queue", rebecca)
            let third = try #require(page.firstMatch(of: /name="form_key" value="([0-9a-f]+)"/)?.1)
            answer = try await post(client, "/campaigns/\(c)/request", rebecca, "form_key=\(third)")
            #expect(answer.location?.contains("granted=2") == true, "\(answer)")
        }
    }

    @Test("the Senders table shows each sender's oldest Needs Reply and sorts by it; the ages in buckets")
    func replyTimers() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            let ids = try await w.fixture.conversationIDs()
            _ = try await AssignmentService(database).reassign(conversationID: ids[0], to: "rebecca", actor: "ada")
            _ = try await AssignmentService(database).reassign(conversationID: ids[1], to: "kevin", actor: "ada")
            try await database.query("""
                UPDATE conversations SET status = 'needs_reply',
                    last_message_at = now() - CASE id WHEN \(ids[0]) THEN interval '3 hours' ELSE interval '20 minutes' END
                WHERE campaign_id = \(c) AND id = ANY(\([ids[0], ids[1]])::bigint[])
                """)
            let ada = try await signIn(client, "ada")
            let (_, page) = try await get(client, "/campaigns/\(c)?sort=oldest-needs-reply", ada)
            #expect(page.contains("Oldest Needs Reply") && page.contains(">3h 0m<") && page.contains(">20m<"))
            let rebecca = try #require(page.range(of: "Rebecca (rebecca)")), kevin = try #require(page.range(of: "Kevin (kevin)"))
            #expect(rebecca.lowerBound < kevin.lowerBound, "the longest wait first")
            #expect(page.contains("Needs Reply waiting: under 1 h 1 · 1–6 h 1 · 6–24 h 0 · over 24 h 0"))
            let (status, report) = try await get(client, "/campaigns/\(c)/report", ada)
            #expect(status == .ok && report.contains("Rebecca (rebecca)") && report.contains("<svg")
                    && report.contains("waits 3h 0m"))
        }
    }

    @Test("conversations given while no tab was open are counted as new on the next visit, once; own requests are not")
    func newSinceLastVisit() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            let kevin = try await signIn(client, "kevin")
            var (_, page) = try await get(client, "/campaigns/\(c)/queue", kevin)
            #expect(!page.contains("since your last visit"), "the first visit counts nothing")
            #expect(page.contains("Notify me in this browser"))
            _ = try await w.fixture.assignments.reassignSome(w.fixture.request(.unassigned, .senders(["kevin"]), count: 2))
            _ = try await SelfAssignService(database).requestMore(campaignID: c, sender: "kevin", count: 1)
            (_, page) = try await get(client, "/campaigns/\(c)/queue", kevin)
            #expect(page.contains("2 conversations were assigned to you since your last visit."))
            (_, page) = try await get(client, "/campaigns/\(c)/queue", kevin)
            #expect(!page.contains("since your last visit"), "counted once")
        }
    }
}
