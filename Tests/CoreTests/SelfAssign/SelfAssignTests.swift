import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Self-assign")
struct SelfAssignTests {
    static let settings = SelfAssignSettings(selfAssign: true, batchSize: 3)

    @Test("grants the oldest unassigned, not-started conversations, up to the batch size")
    func oldestFirst() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 10, settings: Self.settings)
            let ids = try await f.conversationIDs()
            try await database.query("UPDATE conversations SET status = 'opted_out' WHERE id = \(ids[0])")
            _ = try await f.assignments.reassign(conversationID: ids[1], to: "rebecca", actor: "t")
            let grant = try await SelfAssignService(database).requestMore(campaignID: f.campaign.id, sender: "kevin")
            #expect(grant.conversationIDs == Array(ids[2...4]))
            #expect(grant.result.moved == 3 && grant.result.requested == 3 && grant.result.operation == .selfAssign)
            #expect(grant.result.perSender == [.init(handle: "kevin", received: 3)])
            let batch = try await HistoryService(database).batch(id: try #require(grant.result.batchID))
            #expect(batch.kind == "self_assign" && batch.moved == 3)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("asking for more than the batch size gets the batch size; a small pool gives a partial grant")
    func sizes() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 4,
                                           settings: .init(selfAssign: true, batchSize: 3, requireFinishedBatch: false))
            let service = SelfAssignService(database)
            let first = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin", count: 10)
            #expect(first.result.moved == 3 && first.result.requested == 10)
            let second = try await service.requestMore(campaignID: f.campaign.id, sender: "rebecca", count: 2)
            #expect(second.result.moved == 1 && second.result.requested == 2)
            await expectCode("pool_empty") { _ = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin") }
        }
    }

    @Test("refusals, one by one, each changing nothing")
    func refusals() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca", "sleepy"], conversations: 8,
                                           settings: Self.settings)
            let service = SelfAssignService(database)
            let other = try await CampaignService(database).create(orgID: f.org.id, name: "Other")
            _ = try await Directory(database).addUser(orgID: f.org.id, handle: "elsewhere")
            try await SenderService(database).add(campaignID: other.id, handles: ["elsewhere"])
            try await SenderService(database).deactivate(campaignID: f.campaign.id, handle: "sleepy")
            let c = f.campaign.id

            await expectCode("self_assign_disabled") { _ = try await service.requestMore(campaignID: other.id, sender: "elsewhere") }
            await expectCode("not_a_sender") { _ = try await service.requestMore(campaignID: c, sender: "elsewhere") }
            await expectCode("not_a_sender") { _ = try await service.requestMore(campaignID: c, sender: "sleepy") }
            await expectCode("unknown_sender") { _ = try await service.requestMore(campaignID: c, sender: "ghost") }
            await expectCode("unknown_campaign") { _ = try await service.requestMore(campaignID: 999_999, sender: "kevin") }
            for count in [0, -1, 5001] {
                await expectCode("invalid_count") { _ = try await service.requestMore(campaignID: c, sender: "kevin", count: count) }
            }
            #expect(try await f.count(of: nil) == 8)

            _ = try await service.requestMore(campaignID: c, sender: "kevin")
            await expectCode("unfinished_batch") { _ = try await service.requestMore(campaignID: c, sender: "kevin") }

            _ = try await CampaignService(database).update(id: c, maxOpen: 3, requireFinishedBatch: false)
            await expectCode("cap_reached") { _ = try await service.requestMore(campaignID: c, sender: "kevin") }
            #expect(try await f.count(of: "kevin") == 3)

            _ = try await CampaignService(database).update(id: c, maxOpen: 5)
            let capped = try await service.requestMore(campaignID: c, sender: "kevin")
            #expect(capped.result.moved == 2)
            _ = try await service.requestMore(campaignID: c, sender: "rebecca")
            await expectCode("pool_empty") {
                _ = try await service.requestMore(campaignID: c, sender: "rebecca")
            }
            let batches = try await HistoryService(database).campaign(id: c)
            #expect(batches.count == 3)
        }
    }

    @Test("release hands not-started conversations back, and others can pull them")
    func release() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 3, settings: Self.settings)
            let service = SelfAssignService(database)
            let grant = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin")
            try await database.query("UPDATE conversations SET status = 'waiting' WHERE id = \(grant.conversationIDs[0])")
            let released = try await service.release(campaignID: f.campaign.id, sender: "kevin")
            #expect(released.moved == 2 && released.operation == .release)
            #expect(try await f.count(of: "kevin") == 1)
            let pulled = try await service.requestMore(campaignID: f.campaign.id, sender: "rebecca")
            #expect(pulled.conversationIDs == Array(grant.conversationIDs[1...2]))
            let nothing = try await service.release(campaignID: f.campaign.id, sender: "kevin")
            #expect(nothing.moved == 0 && nothing.batchID == nil)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("60 parallel requesters, several per sender, against a pool larger than the caps allow")
    func concurrency() async throws {
        try await TestDatabase.with(maximumConnections: 64) { database in
            let senders = (0..<20).map { "s\($0)" }
            let pool = 700
            let cap = 30
            let f = try await Fixture.make(database, senders: senders, conversations: pool,
                                           settings: .init(selfAssign: true, batchSize: 25, maxOpen: cap,
                                                           requireFinishedBatch: false))
            let service = SelfAssignService(database)
            let granted = await withTaskGroup(of: Int.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        let grant = try? await service.requestMore(campaignID: f.campaign.id, sender: senders[index % 20])
                        return grant?.result.moved ?? 0
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(granted == min(pool, senders.count * cap))
            let perSender = try await database.query("""
                SELECT max(n), count(*) FROM (SELECT count(*) AS n FROM conversations
                WHERE campaign_id = \(f.campaign.id) AND assignee_id IS NOT NULL GROUP BY assignee_id) s
                """)
            let (most, holders) = try perSender[0].decode((Int, Int).self)
            #expect(most <= cap && holders == 20)
            // No conversation granted twice, and every grant is in history.
            let twice = try await database.query("""
                SELECT count(*) FROM (SELECT conversation_id FROM assignment_changes WHERE campaign_id = \(f.campaign.id)
                GROUP BY conversation_id HAVING count(*) > 1) d
                """)
            #expect(try twice[0].decode(Int.self) == 0)
            #expect(try await f.historyReplays())
            #expect(try await f.batchesAreWhole())
            // The leftovers are exactly the newest conversations.
            let ids = try await f.conversationIDs()
            let left = try await database.query("""
                SELECT id FROM conversations WHERE campaign_id = \(f.campaign.id) AND assignee_id IS NULL ORDER BY created_at, id
                """).map { try $0.decode(Int64.self) }
            #expect(left == Array(ids.suffix(pool - granted)))
            #expect(try await f.countsAddUp())
        }
    }

    @Test("the claim strategies give the same grants without double grants", arguments: SelfAssignService.ClaimStrategy.allCases)
    func strategies(strategy: SelfAssignService.ClaimStrategy) async throws {
        try await TestDatabase.with(maximumConnections: 32) { database in
            let senders = (0..<12).map { "s\($0)" }
            let f = try await Fixture.make(database, senders: senders, conversations: 200,
                                           settings: .init(selfAssign: true, batchSize: 10, requireFinishedBatch: false))
            let service = SelfAssignService(database, claimSlots: 4, strategy: strategy)
            let granted = await withTaskGroup(of: Int.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        (try? await service.requestMore(campaignID: f.campaign.id, sender: senders[index % 12]))?.result.moved ?? 0
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(granted == 200)
            #expect(try await f.count(of: nil) == 0)
            #expect(try await f.historyReplays())
        }
    }

    @Test("a request cancelled while it queues for the campaign claims nothing")
    func cancelledWhileQueued() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 5, settings: Self.settings)
            let service = SelfAssignService(database, claimSlots: 1)
            let (go, release) = AsyncStream.makeStream(of: Void.self)
            let (inside, entered) = AsyncStream.makeStream(of: Void.self)
            // Something else holds the campaign's only slot.
            let holder = Task {
                try await database.admission.run(f.campaign.id, limit: 1) {
                    entered.yield()
                    for await _ in go { break }
                }
            }
            for await _ in inside { break }
            let request = Task { try await service.requestMore(campaignID: f.campaign.id, sender: "kevin") }
            while await database.admission.waiting(f.campaign.id) < 1 { await Task.yield() }
            request.cancel()
            release.yield()
            try await holder.value
            await #expect(throws: CancellationError.self) { try await request.value }
            #expect(try await f.count(of: "kevin") == 0)
            let after = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin")
            #expect(after.result.moved == 3)
        }
    }
}
