import PostgresNIO
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// A claim starts its scan at the campaign's pool start (migration 0018). These tests put conversations back in
/// the pool by every way there is, while claims move the start, and check that the oldest are still granted first.
@Suite("Self-assign: the pool's start")
struct PoolStartTests {
    static let settings = SelfAssignSettings(selfAssign: true, batchSize: 3, requireFinishedBatch: false)

    /// No conversation in the pool sorts before the campaign's pool start.
    static func startHolds(_ database: Database, campaignID: Int64) async throws -> Bool {
        try await database.query("""
            SELECT NOT EXISTS (
                SELECT 1 FROM conversations c JOIN campaign_pool_starts f ON f.campaign_id = c.campaign_id
                WHERE c.campaign_id = \(campaignID) AND c.assignee_id IS NULL AND c.status = 'not_started'
                  AND (c.created_at, c.id) < (f.created_at, f.id))
            """)[0].decode(Bool.self)
    }

    @Test("conversations put back by undo, a single unassign, raw SQL or Unassign All are granted first again")
    func everyWayBack() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 12, settings: Self.settings)
            let ids = try await f.conversationIDs()
            let service = SelfAssignService(database)
            let c = f.campaign.id
            let first = try await service.requestMore(campaignID: c, sender: "kevin")
            _ = try await service.requestMore(campaignID: c, sender: "rebecca")
            #expect(try await Self.startHolds(database, campaignID: c))

            _ = try await f.assignments.undo(batchID: try #require(first.result.batchID), actor: "ada")
            #expect(try await service.requestMore(campaignID: c, sender: "kevin").conversationIDs == Array(ids[0...2]))

            _ = try await f.assignments.reassign(conversationID: ids[4], to: nil, actor: "ada")
            try await database.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(ids[3])")
            #expect(try await service.requestMore(campaignID: c, sender: "rebecca").conversationIDs
                    == [ids[3], ids[4], ids[6]])

            let preview = try await f.assignments.previewUnassignAll(campaignID: c, from: nil, status: .any, actor: "ada")
            _ = try await f.assignments.unassignAll(campaignID: c, from: nil, status: .any, actor: "ada",
                                                    confirmationToken: preview.confirmationToken)
            #expect(try await service.requestMore(campaignID: c, sender: "kevin").conversationIDs == Array(ids[0...2]))
            #expect(try await Self.startHolds(database, campaignID: c))
            #expect(try await f.countsAddUp())
        }
    }

    @Test("a campaign without a pool start row is claimed from its pool's beginning")
    func withoutRow() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 9, settings: Self.settings)
            let ids = try await f.conversationIDs()
            let service = SelfAssignService(database)
            let c = f.campaign.id
            try await database.query("DELETE FROM campaign_pool_starts WHERE campaign_id = \(c)")
            #expect(try await service.requestMore(campaignID: c, sender: "kevin").conversationIDs == Array(ids[0...2]))
            #expect(try await service.requestMore(campaignID: c, sender: "rebecca").conversationIDs == Array(ids[3...5]))
            try await database.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(ids[1])")
            #expect(try await service.requestMore(campaignID: c, sender: "rebecca").conversationIDs
                    == [ids[1], ids[6], ids[7]])
        }
    }

    @Test("a claim alongside an uncommitted return leaves the start alone; after the commit the returned row comes first")
    func claimAlongsideReturn() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 12, settings: Self.settings)
            let ids = try await f.conversationIDs()
            let service = SelfAssignService(database)
            let c = f.campaign.id
            _ = try await service.requestMore(campaignID: c, sender: "kevin")
            try await database.client.withConnection { writer in
                try await writer.query("BEGIN", logger: database.logger)
                try await writer.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(ids[0])",
                                       logger: database.logger)
                // The writer holds the start's row: this claim neither waits for it nor moves it.
                let during = try await service.requestMore(campaignID: c, sender: "rebecca")
                #expect(during.conversationIDs == Array(ids[3...5]))
                try await writer.query("COMMIT", logger: database.logger)
            }
            #expect(try await service.requestMore(campaignID: c, sender: "rebecca").conversationIDs
                    == [ids[0], ids[6], ids[7]])
            #expect(try await Self.startHolds(database, campaignID: c))
        }
    }

    @Test("a REPEATABLE READ return whose snapshot is older than the start's last move fails whole, and can be retried")
    func staleSnapshotRefused() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 12, settings: Self.settings)
            let ids = try await f.conversationIDs()
            let service = SelfAssignService(database)
            let c = f.campaign.id
            _ = try await service.requestMore(campaignID: c, sender: "kevin")
            try await database.client.withConnection { writer in
                try await writer.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: database.logger)
                _ = try await writer.query("SELECT count(*) FROM conversations", logger: database.logger)
                // A claim moves the start past everything kevin holds, after the writer's snapshot.
                _ = try await service.requestMore(campaignID: c, sender: "rebecca")
                do {
                    try await writer.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(ids[0])",
                                           logger: database.logger)
                    Issue.record("a return read a pool start older than the committed one")
                } catch {
                    #expect(error.sqlState == "40001", "\(String(reflecting: error))")
                }
                try await writer.query("ROLLBACK", logger: database.logger)
            }
            #expect(try await f.count(of: "kevin") == 3)
            try await database.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(ids[0])")
            #expect(try await service.requestMore(campaignID: c, sender: "rebecca").conversationIDs.first == ids[0])
        }
    }

    @Test("16 claimers and 8 releasers at once: every grant is oldest-first, the start always holds, counts add up")
    func claimsAndReleasesTogether() async throws {
        try await TestDatabase.with(maximumConnections: 40) { database in
            let senders = (0..<24).map { "s\($0)" }
            let f = try await Fixture.make(database, senders: senders, conversations: 1000,
                                           settings: .init(selfAssign: true, batchSize: 5, requireFinishedBatch: false))
            let service = SelfAssignService(database)
            let c = f.campaign.id
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, sender) in senders.enumerated() {
                    group.addTask {
                        for _ in 0..<8 {
                            if index < 16 {
                                _ = try? await service.requestMore(campaignID: c, sender: sender)
                            } else {
                                // The pool may run dry for a moment; a release must never fail.
                                _ = try? await service.requestMore(campaignID: c, sender: sender)
                                _ = try await service.release(campaignID: c, sender: sender)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await Self.startHolds(database, campaignID: c))
            // With nothing running, a grant takes exactly the oldest rows of the pool.
            let ids = try await f.conversationIDs()
            let pool = try await database.query("""
                SELECT id FROM conversations WHERE campaign_id = \(c) AND assignee_id IS NULL ORDER BY created_at, id
                """).map { try $0.decode(Int64.self) }
            #expect(pool.count == 1000 - 16 * 8 * 5)
            #expect(Set(pool).isSubset(of: Set(ids)))
            #expect(try await service.requestMore(campaignID: c, sender: "s0").conversationIDs == Array(pool.prefix(5)))
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }
}
