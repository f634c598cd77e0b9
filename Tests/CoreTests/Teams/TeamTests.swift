import Foundation
import PostgresNIO
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

extension Fixture {
    var teams: TeamService { TeamService(database) }

    /// A team of the fixture's organization with these members.
    @discardableResult
    func team(_ name: String, _ members: [String]) async throws -> TeamService.Team {
        _ = try await teams.create(orgID: org.id, name: name)
        return members.isEmpty ? .init(name: name, members: []) : try await teams.add(orgID: org.id, team: name, handles: members)
    }
}

@Suite("Teams")
struct TeamTests {
    @Test("create, add, remove and list; unknown names and duplicates are refused, naming them, and change nothing")
    func membership() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca", "sam"], conversations: 0)
            try await f.team("spanish", ["sam", "kevin"])
            #expect(try await f.teams.list(orgID: f.org.id) == [.init(name: "spanish", members: ["kevin", "sam"])])
            await #expect(throws: SwitchboardError(.conflict, "team_exists", "Team 'spanish' already exists.")) {
                _ = try await f.teams.create(orgID: f.org.id, name: "spanish")
            }
            await #expect(throws: SwitchboardError(.invalid, "invalid_team",
                                                   "Team name 'Night Shift' is invalid; use 1 to 64 of a-z, 0-9, '.', '_' and '-'.")) {
                _ = try await f.teams.create(orgID: f.org.id, name: "Night Shift")
            }
            let unknownUser = await #expect(throws: SwitchboardError.self) {
                _ = try await f.teams.add(orgID: f.org.id, team: "spanish", handles: ["rebecca", "nobody"])
            }
            #expect(unknownUser?.code == "unknown_user" && unknownUser?.message.contains("'nobody'") == true)
            let unknownTeam = await #expect(throws: SwitchboardError.self) {
                _ = try await f.teams.add(orgID: f.org.id, team: "french", handles: ["rebecca"])
            }
            #expect(unknownTeam?.code == "unknown_team" && unknownTeam?.message.contains("'french'") == true)
            let notMember = await #expect(throws: SwitchboardError.self) {
                _ = try await f.teams.remove(orgID: f.org.id, team: "spanish", handles: ["sam", "rebecca"])
            }
            #expect(notMember?.code == "not_a_member")
            #expect(try await f.teams.list(orgID: f.org.id) == [.init(name: "spanish", members: ["kevin", "sam"])],
                    "a refused change changes nothing")
            #expect(try await f.teams.remove(orgID: f.org.id, team: "spanish", handles: ["sam"]).members == ["kevin"])
        }
    }

    @Test("Reassign All to a team splits evenly over its active senders in handle order; --available-only skips the away")
    func evenSplitOverTeam() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "maria", "rebecca", "sam"], conversations: 10)
            try await f.team("spanish", ["sam", "maria", "kevin"])
            let result = try await f.assignments.reassignAll(f.request(.unassigned, .team("spanish")))
            #expect(result.perSender == [SenderReceipt(handle: "kevin", received: 4), SenderReceipt(handle: "maria", received: 3),
                                         SenderReceipt(handle: "sam", received: 3)])
            #expect(try await f.count(of: "rebecca") == 0)
            let batch = try await HistoryService(database).batch(id: result.batchID!)
            #expect(batch.parameters["to_team"] == "spanish" && batch.parameters["to"] == "kevin,maria,sam")

            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "maria", available: false)
            var request = f.request(.sender("kevin"), .team("spanish"))
            request.availableOnly = true
            let moved = try await f.assignments.reassignAll(request)
            #expect(moved.perSender.map(\.handle) == ["kevin", "sam"], "maria is away")
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("a team with no active sender in the campaign is refused, and nothing moves")
    func emptyTeamRefused() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca"], conversations: 4)
            _ = try await Directory(database).addUser(orgID: f.org.id, handle: "outsider", role: .texter)
            try await f.team("night", ["outsider"])
            let before = try await f.assignees()
            let refusal = await #expect(throws: SwitchboardError.self) {
                _ = try await f.assignments.reassignAll(f.request(.unassigned, .team("night")))
            }
            #expect(refusal == SwitchboardError(.invalid, "team_has_no_senders",
                                                "Team 'night' has no active sender in campaign \(f.campaign.id)."))
            #expect(try await f.assignees() == before)
            let batches = try await database.query("SELECT count(*) FROM assignment_batches")[0].decode(Int.self)
            #expect(batches == 0)
        }
    }

    @Test("escalation to a team picks its least-loaded available sender; handoff to a team splits or balances")
    func escalationAndHandoff() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "maria", "rebecca", "sam"], conversations: 12)
            try await f.team("spanish", ["maria", "sam"])
            let ids = try await f.conversationIDs()
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["kevin", "maria"])))
            // kevin 6, maria 6, sam 0: sam is the least loaded of the team.
            let escalated = try await f.routing.escalate(conversationID: ids[0], toTeam: "spanish", actor: "ada")
            #expect(escalated.perSender == [SenderReceipt(handle: "sam", received: 1)])
            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "sam", available: false)
            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "maria", available: false)
            let nobody = await #expect(throws: SwitchboardError.self) {
                _ = try await f.routing.escalate(conversationID: ids[1], toTeam: "spanish", actor: "ada")
            }
            #expect(nobody?.code == "no_sender_available")
            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "sam", available: true)
            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "maria", available: true)

            // kevin's 5 open go to the team: balanced, sam (1) gets 5 − …, maria (6) none until level.
            var handoff = RoutingService.HandoffRequest(campaignID: f.campaign.id, from: "kevin", actor: "ada")
            handoff.toTeam = "spanish"
            handoff.distribution = .balance
            let result = try await f.routing.handoff(handoff)
            #expect(result.moved == 5)
            #expect(result.perSender == [SenderReceipt(handle: "sam", received: 5)], "sam 1 + 5 = 6 = maria")
            let loads = try await f.openLoads()
            #expect(loads["maria"] == 6 && loads["sam"] == 6 && loads["kevin"] == nil)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())

            var even = RoutingService.HandoffRequest(campaignID: f.campaign.id, from: "maria", actor: "ada")
            even.toTeam = "spanish"
            let split = try await f.routing.handoff(even)
            #expect(split.perSender == [SenderReceipt(handle: "sam", received: 6)], "maria hands off, leaving only sam")
        }
    }

    @Test("a campaign's routing team: 20 concurrent replies go only to that team, evenly, none routed twice")
    func routingTeamUnderConcurrency() async throws {
        try await TestDatabase.with(maximumConnections: 24) { database in
            let senders = (0..<6).map { "s\($0)" }
            let f = try await Fixture.make(database, senders: senders, conversations: 300)
            try await f.team("night", ["s1", "s3", "s5"])
            try await f.route(by: .roundRobin)
            let campaign = try await f.teams.configure(campaignID: f.campaign.id, routingTeam: "night")
            #expect(campaign.routingTeam == "night")
            let ids = try await f.conversationIDs()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<20 {
                    group.addTask {
                        for index in stride(from: writer, to: ids.count, by: 20) { try await f.reply(ids[index]) }
                    }
                }
                try await group.waitForAll()
            }
            let loads = try await f.openLoads()
            #expect(loads == ["s1": 100, "s3": 100, "s5": 100])
            let routed = try await database.query("""
                SELECT count(*), count(DISTINCT conversation_id) FROM assignment_changes ch
                JOIN assignment_batches b ON b.id = ch.batch_id WHERE b.campaign_id = \(f.campaign.id) AND b.kind = 'route'
                """)[0].decode((Int, Int).self)
            #expect(routed == (300, 300))
            #expect(try await f.countsAddUp())
            let cleared = try await f.teams.configure(campaignID: f.campaign.id, clearRoutingTeam: true)
            #expect(cleared.routingTeam == nil)
        }
    }

    @Test("a campaign limited to teams refuses others as senders, by invite link and for requests; members get in")
    func limitedCampaign() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin"], conversations: 10,
                                           settings: .init(selfAssign: true, batchSize: 2, requireFinishedBatch: false))
            let directory = Directory(database)
            for handle in ["maria", "sam"] { _ = try await directory.addUser(orgID: f.org.id, handle: handle, role: .texter) }
            try await f.team("spanish", ["maria"])
            let limited = try await f.teams.configure(campaignID: f.campaign.id, teams: ["spanish"])
            #expect(limited.teams == ["spanish"])

            let added = await #expect(throws: SwitchboardError.self) {
                try await SenderService(database).add(campaignID: f.campaign.id, handles: ["maria", "sam"])
            }
            #expect(added?.kind == .forbidden && added?.code == "not_in_team" && added?.message.contains("'sam'") == true)
            #expect(try await SenderService(database).list(campaignID: f.campaign.id).senders.map(\.handle) == ["kevin"],
                    "all or none: maria was not added either")
            try await SenderService(database).add(campaignID: f.campaign.id, handles: ["maria"])

            // kevin was a sender before the limit: he keeps what he holds, and can request nothing new.
            let request = await #expect(throws: SwitchboardError.self) {
                _ = try await SelfAssignService(database).requestMore(campaignID: f.campaign.id, sender: "kevin")
            }
            #expect(request?.code == "not_in_team" && request?.kind == .forbidden)
            let kevin = try await directory.user(orgID: f.org.id, handle: "kevin")
            #expect(try await SelfAssignService(database).eligibility(campaignID: f.campaign.id, user: kevin)?.code == "not_in_team")
            #expect(try await SelfAssignService(database).requestMore(campaignID: f.campaign.id, sender: "maria").result.moved == 2)

            let invites = InviteService(database)
            let link = try await invites.create(campaignID: f.campaign.id, actor: "ada")
            let sam = try await directory.user(orgID: f.org.id, handle: "sam")
            let joined = await #expect(throws: SwitchboardError.self) { _ = try await invites.join(token: link.token, user: sam) }
            #expect(joined?.code == "not_in_team")
            _ = try await f.teams.add(orgID: f.org.id, team: "spanish", handles: ["sam"])
            #expect(try await invites.join(token: link.token, user: sam).campaign.id == f.campaign.id)

            let lifted = try await f.teams.configure(campaignID: f.campaign.id, teams: [])
            #expect(lifted.teams.isEmpty)
            #expect(try await SelfAssignService(database).eligibility(campaignID: f.campaign.id, user: kevin) == nil)
        }
    }
}
