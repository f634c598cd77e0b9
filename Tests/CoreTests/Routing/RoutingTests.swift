import Foundation
import PostgresNIO
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

extension Fixture {
    var routing: RoutingService { RoutingService(database) }

    /// Sets the campaign's routing policy (and fallback).
    func route(by policy: RoutingPolicy, fallback: RoutingPolicy? = nil, releaseStaleAfter: Int? = nil) async throws {
        _ = try await CampaignService(database).updateRouting(id: campaign.id, policy: policy, fallback: fallback,
                                                              releaseStaleAfter: releaseStaleAfter)
    }

    /// A reply from the contact of conversation `id`.
    @discardableResult
    func reply(_ id: Int64, _ body: String = "Yes, I'll vote") async throws -> MessageService.Recorded {
        try await MessageService(database).record(.conversation(id), direction: .inbound, body: body)
    }

    /// A contact's reply on every assigned conversation of the campaign, recorded at once as MessageService records
    /// one on a conversation that has an assignee (the message; Needs Reply, unread): setup for tests whose subject
    /// comes after it, where 300 replies one at a time would be most of the test's time.
    func repliesOnEveryAssigned() async throws {
        try await database.transaction { connection in
            try await connection.query("""
                INSERT INTO messages (campaign_id, conversation_id, direction, body)
                SELECT campaign_id, id, 'inbound', 'Yes, I''ll vote' FROM conversations
                WHERE campaign_id = \(campaign.id) AND assignee_id IS NOT NULL
                """, logger: database.logger)
            try await connection.query("""
                UPDATE conversations SET status = 'needs_reply', unread = true, last_message_at = now(), updated_at = now()
                WHERE campaign_id = \(campaign.id) AND assignee_id IS NOT NULL
                """, logger: database.logger)
        }
    }

    /// Each sender's open conversations, by handle.
    func openLoads() async throws -> [String: Int] {
        var loads: [String: Int] = [:]
        for row in try await database.query("""
            SELECT u.handle, count(*) FROM conversations c JOIN users u ON u.id = c.assignee_id
            WHERE c.campaign_id = \(campaign.id) AND c.status NOT IN ('closed', 'opted_out') GROUP BY u.handle
            """) {
            let (handle, n) = try row.decode((String, Int).self)
            loads[handle] = n
        }
        return loads
    }
}

@Suite("Routing")
struct RoutingTests {
    @Test("manual leaves a reply in Unassigned, counted in the backlog")
    func manual() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 3)
            let ids = try await f.conversationIDs()
            let recorded = try await f.reply(ids[0])
            #expect(recorded.conversation.assignee == nil)
            let backlog = try await f.routing.backlog(campaignID: f.campaign.id)
            #expect(backlog.count == 1 && backlog.conversations.map(\.id) == [ids[0]] && backlog.policy == .manual)
            let list = try await SenderService(database).list(campaignID: f.campaign.id)
            #expect(list.unassigned[.needsReply] == 1)
        }
    }

    @Test("round robin takes turns by handle, skipping away and deactivated senders, and records a route batch")
    func roundRobin() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob", "cat", "dan"], conversations: 8)
            try await f.route(by: .roundRobin)
            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "bob", available: false)
            try await SenderService(database).deactivate(campaignID: f.campaign.id, handle: "dan")
            var order: [String?] = []
            for id in try await f.conversationIDs().prefix(6) {
                order.append(try await f.reply(id).conversation.assignee)
            }
            #expect(order == ["amy", "cat", "amy", "cat", "amy", "cat"])
            let first = try await f.conversationIDs()[0]
            let history = try await HistoryService(database).conversation(id: first)
            #expect(history.map(\.kind) == ["route"] && history[0].to == "amy" && history[0].actor == "routing")
            // A reply on a conversation that has an assignee is not routed again.
            let again = try await f.reply(first, "Me again")
            #expect(again.conversation.assignee == "amy")
            #expect(try await HistoryService(database).conversation(id: first).count == 1)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("a reply and its routing commit together: when the route batch cannot be written, the message is not stored either")
    func routedWithTheMessage() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 2)
            try await f.route(by: .roundRobin)
            let ids = try await f.conversationIDs()
            // A fault in the middle of the routing: writing its batch row fails.
            try await database.query("""
                CREATE FUNCTION fail_route() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'disk full while routing'; END $$
                """)
            try await database.query("""
                CREATE TRIGGER fail_route BEFORE INSERT ON assignment_batches FOR EACH ROW
                WHEN (NEW.kind = 'route') EXECUTE FUNCTION fail_route()
                """)
            await #expect(throws: (any Error).self) { try await f.reply(ids[0]) }
            let stored = try await database.query("SELECT count(*) FROM messages WHERE campaign_id = \(f.campaign.id)")
            #expect(try stored[0].decode(Int.self) == 0)
            let conversation = try await ConversationService(database).conversation(id: ids[0])
            #expect(conversation.status == .notStarted && conversation.assignee == nil)
            try await database.query("DROP TRIGGER fail_route ON assignment_batches")
            let recorded = try await f.reply(ids[0])
            #expect(recorded.conversation.assignee == "kevin")
            #expect(try await f.countsAddUp())
        }
    }

    @Test("a reply inserted with raw SQL needs a reply, routed or not; an opted-out conversation stays opted out")
    func statusWithoutTheService() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 3)
            let ids = try await f.conversationIDs()
            func insertReply(_ id: Int64) async throws {
                try await database.query("""
                    INSERT INTO messages (campaign_id, conversation_id, direction, body)
                    VALUES (\(f.campaign.id), \(id), 'inbound', 'typed by another tool')
                    """)
            }
            // Manual: the status alone. (The same branch covers a reply whose service read a routed policy that
            // turned manual before the commit: it left the status change to the trigger.)
            try await insertReply(ids[0])
            var conversation = try await ConversationService(database).conversation(id: ids[0])
            #expect(conversation.status == .needsReply && conversation.unread && conversation.assignee == nil)
            // Routed: status and assignee together.
            try await f.route(by: .roundRobin)
            try await insertReply(ids[1])
            conversation = try await ConversationService(database).conversation(id: ids[1])
            #expect(conversation.status == .needsReply && conversation.unread && conversation.assignee == "kevin")
            // An opted-out conversation stays opted out, and nobody is given it.
            _ = try await f.reply(ids[2], "STOP")
            try await insertReply(ids[2])
            conversation = try await ConversationService(database).conversation(id: ids[2])
            #expect(conversation.status == .optedOut && conversation.assignee == nil)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("least loaded picks the fewest open conversations, ties by handle, and respects max_open")
    func leastLoaded() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob", "cat"], conversations: 12,
                                           settings: .init(maxOpen: 3))
            try await f.route(by: .leastLoaded)
            let ids = try await f.conversationIDs()
            // amy holds 2, bob 1, cat 0.
            _ = try await f.assignments.reassign(conversationID: ids[10], to: "amy", actor: "t")
            _ = try await f.assignments.reassign(conversationID: ids[11], to: "amy", actor: "t")
            _ = try await f.assignments.reassign(conversationID: ids[9], to: "bob", actor: "t")
            var order: [String?] = []
            for id in ids.prefix(6) {
                let routed = try await f.reply(id).conversation
                // The reply's status change is written with the assignee, in one update at COMMIT.
                #expect(routed.status == .needsReply && routed.unread && routed.lastMessageAt != nil)
                order.append(routed.assignee)
            }
            // cat (0), then bob/cat tie at 1 → bob, then cat, amy... everyone reaches the cap of 3 after 6 more.
            #expect(order == ["cat", "bob", "cat", "amy", "bob", "cat"])
            // Everybody is at the cap: the seventh stays unassigned and shows in the backlog.
            let seventh = try await f.reply(ids[6])
            #expect(seventh.conversation.assignee == nil)
            #expect(seventh.conversation.status == .needsReply && seventh.conversation.unread)
            #expect(try await f.routing.backlog(campaignID: f.campaign.id).count == 1)
            #expect(try await f.openLoads() == ["amy": 3, "bob": 3, "cat": 3])
            // One route batch per routed reply, none for the one nobody could take (its batch row, written before
            // the choice, was taken back).
            let batches = try await database.query(
                "SELECT count(*) FROM assignment_batches WHERE campaign_id = \(f.campaign.id) AND kind = 'route'")
            #expect(try batches[0].decode(Int.self) == 6)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("skill routing needs every tag covered, then least loaded; nobody matching falls back")
    func skills() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob", "cat"], conversations: 4)
            let ids = try await f.conversationIDs()
            try await f.route(by: .skill)
            try await f.routing.addSkills(campaignID: f.campaign.id, handle: "amy", skills: ["spanish"])
            try await f.routing.addSkills(campaignID: f.campaign.id, handle: "bob", skills: ["spanish", "Billing"])
            #expect(try await f.routing.skills(campaignID: f.campaign.id) == ["amy": ["spanish"], "bob": ["billing", "spanish"]])
            try await f.routing.addTags(conversationID: ids[0], tags: ["spanish", "billing"])
            try await f.routing.addTags(conversationID: ids[1], tags: ["spanish"])
            try await f.routing.addTags(conversationID: ids[2], tags: ["french"])
            #expect(try await f.reply(ids[0]).conversation.assignee == "bob")
            #expect(try await f.reply(ids[1]).conversation.assignee == "amy", "amy has fewer open conversations than bob")
            #expect(try await f.reply(ids[2]).conversation.assignee == nil, "nobody speaks French: falls back to manual")
            try await f.route(by: .skill, fallback: .leastLoaded)
            #expect(try await f.reply(ids[3]).conversation.assignee == "cat", "the fallback's least loaded")
            let list = try await SenderService(database).list(campaignID: f.campaign.id)
            #expect(list.senders.map(\.skills) == [["spanish"], ["billing", "spanish"], []])
        }
    }

    @Test("routing under 20 concurrent writers: round robin gives 10 senders 100 ± 1 of 1,000 replies, least loaded too, none routed twice")
    func fairUnderConcurrency() async throws {
        for policy in [RoutingPolicy.roundRobin, .leastLoaded] {
            try await TestDatabase.with(maximumConnections: 24) { database in
                let senders = (0..<10).map { "s\($0)" }
                let f = try await Fixture.make(database, senders: senders, conversations: 1000)
                try await f.route(by: policy)
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
                #expect(loads.count == 10 && loads.values.allSatisfy { (99...101).contains($0) }, "\(policy): \(loads)")
                let routed = try await database.query("""
                    SELECT count(*), count(DISTINCT conversation_id) FROM assignment_changes ch
                    JOIN assignment_batches b ON b.id = ch.batch_id WHERE b.campaign_id = \(f.campaign.id) AND b.kind = 'route'
                    """)
                let (changes, distinct) = try routed[0].decode((Int, Int).self)
                #expect(changes == 1000 && distinct == 1000)
                #expect(try await f.countsAddUp())
                #expect(try await f.historyReplays())
            }
        }
    }

    @Test("a handoff moves a sender's open conversations by policy, marks them away, is one batch and undoes cleanly")
    func handoff() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca", "sam"], conversations: 7)
            let ids = try await f.conversationIDs()
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["kevin"])))
            _ = try await MessageService(database).close(conversationID: ids[6])
            _ = try await f.assignments.reassign(conversationID: ids[5], to: "sam", actor: "t")
            let before = try await f.assignees()
            let preview = try await f.routing.handoff(.init(campaignID: f.campaign.id, from: "kevin", policy: .leastLoaded,
                                                            actor: "ada", dryRun: true))
            #expect(preview.batchID == nil && preview.dryRun && preview.moved == 5)
            #expect(try await f.assignees() == before, "a dry run changes nothing")
            let result = try await f.routing.handoff(.init(campaignID: f.campaign.id, from: "kevin", policy: .leastLoaded,
                                                           actor: "ada", note: "Kevin's shift ended"))
            // sam holds 1: rebecca gets 3, sam 2; the closed one stays with kevin.
            #expect(result.moved == 5 && result.operation == .handoff)
            #expect(result.perSender == [SenderReceipt(handle: "rebecca", received: 3), SenderReceipt(handle: "sam", received: 2)])
            #expect(try await f.count(of: "kevin") == 1)
            let list = try await SenderService(database).list(campaignID: f.campaign.id)
            #expect(list.senders.first { $0.handle == "kevin" }?.available == false)
            let batch = try await HistoryService(database).batch(id: try #require(result.batchID))
            #expect(batch.kind == "handoff" && batch.note == "Kevin's shift ended" && batch.moved == 5)
            let undone = try await f.assignments.undo(batchID: batch.id, actor: "ada")
            let after = try await f.assignees()
            #expect(undone.moved == 5 && after == before)
            // To one sender, with a status filter.
            _ = try await f.reply(ids[0])
            let one = try await f.routing.handoff(.init(campaignID: f.campaign.id, from: "kevin", to: "sam",
                                                        status: .only(.needsReply), actor: "ada"))
            #expect(one.moved == 1 && one.perSender == [SenderReceipt(handle: "sam", received: 1)])
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("escalation goes to the least-loaded available sender with the skill, or says why nobody can take it")
    func escalation() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob", "cat"], conversations: 4,
                                           settings: .init(maxOpen: 2))
            let ids = try await f.conversationIDs()
            try await f.routing.addSkills(campaignID: f.campaign.id, handle: "bob", skills: ["billing"])
            try await f.routing.addSkills(campaignID: f.campaign.id, handle: "cat", skills: ["billing"])
            _ = try await f.assignments.reassign(conversationID: ids[0], to: "amy", actor: "t")
            _ = try await f.assignments.reassign(conversationID: ids[1], to: "cat", actor: "t")
            let result = try await f.routing.escalate(conversationID: ids[0], skill: "billing", actor: "ada", note: "invoice")
            #expect(result.perSender == [SenderReceipt(handle: "bob", received: 1)] && result.operation == .reassign)
            let batch = try await HistoryService(database).batch(id: try #require(result.batchID))
            #expect(batch.parameters["to_skill"] == "billing" && batch.note == "invoice")
            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "bob", available: false)
            _ = try await f.assignments.reassign(conversationID: ids[2], to: "cat", actor: "t")
            let before = try await f.assignees()
            await expectCode("no_sender_available", containing: "bob is away, cat is at the cap (2 open of 2)") {
                _ = try await f.routing.escalate(conversationID: ids[3], skill: "billing", actor: "ada")
            }
            await expectCode("unknown_skill", containing: "'legal'") {
                _ = try await f.routing.escalate(conversationID: ids[3], skill: "legal", actor: "ada")
            }
            #expect(try await f.assignees() == before)
            // The escalation undoes cleanly: the conversation goes back to amy.
            let undone = try await f.assignments.undo(batchID: batch.id, actor: "ada")
            #expect(undone.moved == 1 && undone.perSender == [SenderReceipt(handle: "amy", received: 1)])
            #expect(try await f.historyReplays())
        }
    }

    @Test("stale replies are released and routed again, never back to the same sender, once per campaign run")
    func staleRelease() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob"], conversations: 4)
            let ids = try await f.conversationIDs()
            try await f.route(by: .leastLoaded, releaseStaleAfter: 30)
            for id in ids.prefix(3) {
                _ = try await f.assignments.reassign(conversationID: id, to: "amy", actor: "t")
                try await f.reply(id)
            }
            // Two of amy's replies have waited 31 minutes, one 5.
            try await database.query("""
                UPDATE conversations SET updated_at = now() - interval '31 minutes'
                WHERE campaign_id = \(f.campaign.id) AND id = ANY(\([ids[0], ids[1]])::bigint[])
                """)
            try await database.query("""
                UPDATE conversations SET updated_at = now() - interval '5 minutes'
                WHERE campaign_id = \(f.campaign.id) AND id = \(ids[2])
                """)
            let dry = try await f.routing.releaseStale(campaignID: f.campaign.id, dryRun: true)
            #expect(dry.map(\.moved) == [2] && dry[0].batchID == nil)
            let results = try await f.routing.releaseStale(campaignID: f.campaign.id)
            #expect(results.map(\.moved) == [2] && results[0].operation == .releaseStale)
            #expect(try await f.assignees() == ["bob", "bob", "amy", nil])
            #expect(try await f.routing.releaseStale(campaignID: f.campaign.id).map(\.moved) == [0], "nothing is stale now")
            #expect(try await f.countsAddUp())
        }
    }

    @Test("two processes releasing stale replies at once release each exactly once")
    func staleReleaseTwoProcesses() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob"], conversations: 200)
            try await f.route(by: .manual, releaseStaleAfter: 1)
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["amy"])))
            try await f.repliesOnEveryAssigned()
            try await database.query("UPDATE conversations SET updated_at = now() - interval '2 minutes' WHERE campaign_id = \(f.campaign.id)")
            // A second pool stands for a second server process.
            let results = try await TestDatabase.open(database.url, logger: database.logger) { other in
                try await withThrowingTaskGroup(of: [BatchResult].self) { group in
                    for pool in [database, other] {
                        for _ in 0..<3 { group.addTask { try await RoutingService(pool).releaseStale() } }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
            }
            #expect(results.map(\.moved).reduce(0, +) == 200)
            let released = try await database.query("""
                SELECT count(*), count(DISTINCT conversation_id) FROM assignment_changes ch
                JOIN assignment_batches b ON b.id = ch.batch_id WHERE b.campaign_id = \(f.campaign.id) AND b.kind = 'release_stale'
                """)
            #expect(try released[0].decode((Int, Int).self) == (200, 200))
            #expect(try await f.count(of: nil) == 200)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("bad input names the bad value and changes nothing")
    func badInput() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 2)
            let ids = try await f.conversationIDs()
            let before = try await f.assignees()
            await expectCode("invalid_policy", containing: "'fastest'") { _ = try RoutingPolicy(parsing: "fastest") }
            await expectCode("invalid_skill", containing: "'no way'") {
                try await f.routing.addSkills(campaignID: f.campaign.id, handle: "kevin", skills: ["no way"])
            }
            await expectCode("not_a_sender", containing: "'ada'") {
                try await f.routing.addSkills(campaignID: f.campaign.id, handle: "ada", skills: ["billing"])
            }
            await expectCode("unknown_sender", containing: "'zed'") {
                try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "zed", available: false)
            }
            await expectCode("unknown_skill", containing: "'billing'") {
                try await f.routing.removeSkills(campaignID: f.campaign.id, handle: "kevin", skills: ["billing"])
            }
            let long = String(repeating: "n", count: 501)
            await expectCode("invalid_note", containing: "501 characters") {
                _ = try await f.assignments.reassignAll(.init(campaignID: f.campaign.id, source: .unassigned,
                                                              target: .allActive, actor: "ada", note: long))
            }
            await expectCode("invalid_note") {
                _ = try await f.routing.handoff(.init(campaignID: f.campaign.id, from: "kevin", to: "rebecca",
                                                      actor: "ada", note: long))
            }
            await expectCode("unknown_sender", containing: "'zed'") {
                _ = try await f.routing.handoff(.init(campaignID: f.campaign.id, from: "zed", actor: "ada"))
            }
            await expectCode("invalid_release_stale_after", containing: "0 minutes") {
                _ = try await CampaignService(database).updateRouting(id: f.campaign.id, releaseStaleAfter: 0)
            }
            await expectCode("release_stale_off") { _ = try await f.routing.releaseStale(campaignID: f.campaign.id) }
            #expect(try await f.assignees() == before)
            let list = try await SenderService(database).list(campaignID: f.campaign.id)
            #expect(list.senders.allSatisfy { $0.available && $0.skills.isEmpty })
            #expect(try await f.routing.tags(conversationID: ids[0]).isEmpty)
            let batches = try await database.query("SELECT count(*) FROM assignment_batches")
            #expect(try batches[0].decode(Int.self) == 0)
        }
    }

    @Test("a note is stored with the batch and shown in history; bulk targets can skip away senders")
    func notesAndAvailableOnly() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob", "cat"], conversations: 6)
            try await f.routing.setAvailability(campaignID: f.campaign.id, handle: "bob", available: false)
            var request = f.request(.unassigned, .allActive)
            request.availableOnly = true
            request.note = "  Evening rebalance  "
            let result = try await f.assignments.reassignAll(request)
            #expect(result.perSender.map(\.handle) == ["amy", "cat"])
            let batches = try await HistoryService(database).campaign(id: f.campaign.id)
            #expect(batches.first?.note == "Evening rebalance")
            var named = f.request(.sender("amy"), .senders(["bob", "cat"]))
            named.availableOnly = true
            #expect(try await f.assignments.reassignAll(named).perSender.map(\.handle) == ["cat"])
            var nobody = f.request(.sender("cat"), .senders(["bob"]))
            nobody.availableOnly = true
            await expectCode("no_available_senders") { _ = try await f.assignments.reassignAll(nobody) }
        }
    }

    @Test("an import's tags column tags the conversations; a bad tag imports nothing")
    func importTags() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 0)
            let csv = "phone,name,tags\n+15552000001,A,spanish;Billing\n+15552000002,B,\n"
            _ = try await ContactImporter(database).importCSV(campaignID: f.campaign.id, data: Data(csv.utf8), fileName: "t.csv")
            let ids = try await f.conversationIDs()
            #expect(try await f.routing.tags(conversationID: ids[0]) == ["billing", "spanish"])
            #expect(try await f.routing.tags(conversationID: ids[1]).isEmpty)
            let bad = "phone,name,tags\n+15552000003,C,ok\n+15552000004,D,no!\n"
            await expectCode("invalid_tag", containing: "line 3 ('no!')") {
                _ = try await ContactImporter(database).importCSV(campaignID: f.campaign.id, data: Data(bad.utf8), fileName: "t.csv")
            }
            #expect(try await f.conversationIDs().count == 2)
        }
    }
}

@Suite("Stale release in serve")
struct StaleReleaserTests {
    @Test("two servers' stale-release timers against one database release each stale reply exactly once")
    func twoServers() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["amy", "bob", "cat"], conversations: 300)
            try await f.route(by: .leastLoaded, releaseStaleAfter: 1)
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["amy"])))
            try await f.repliesOnEveryAssigned()
            try await database.query("UPDATE conversations SET updated_at = now() - interval '2 minutes' WHERE campaign_id = \(f.campaign.id)")
            let released = { try await database.query("""
                SELECT count(*), count(DISTINCT conversation_id), count(DISTINCT batch_id) FROM assignment_changes ch
                JOIN assignment_batches b ON b.id = ch.batch_id WHERE b.campaign_id = \(f.campaign.id) AND b.kind = 'release_stale'
                """)[0].decode((Int, Int, Int).self) }
            // Each server has its own pool, as two processes would; their timers tick every 50 ms until every stale
            // reply is released (a busy machine may take a while). Then each releases once more by hand, as its
            // next tick would: nothing is left to release a second time.
            try await TestDatabase.open(database.url, logger: database.logger) { other in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for pool in [database, other] {
                        group.addTask {
                            try? await StaleReleaser(database: pool, every: .milliseconds(50), logger: pool.logger).run()
                        }
                    }
                    let all = try await waitUntil { try await released().0 >= 300 }
                    group.cancelAll()
                    #expect(all, "the timers did not release every stale reply")
                }
                for pool in [database, other] {
                    #expect(try await RoutingService(pool).releaseStale().map(\.moved).reduce(0, +) == 0)
                }
            }
            let (changes, distinct, batches) = try await released()
            #expect(changes == 300 && distinct == 300 && batches >= 1)
            #expect(try await f.openLoads() == ["bob": 150, "cat": 150])
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }
}
