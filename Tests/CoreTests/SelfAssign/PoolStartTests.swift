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

    /// A campaign of `conversations` unassigned conversations, their ids oldest first, and the grant service.
    struct Scene {
        let f: Fixture
        let ids: [Int64]
        let service: SelfAssignService
        var c: Int64 { f.campaign.id }

        init(_ database: Database, conversations: Int = 12) async throws {
            f = try await Fixture.make(database, conversations: conversations, settings: PoolStartTests.settings)
            ids = try await f.conversationIDs()
            service = SelfAssignService(database)
        }

        /// The conversations `sender` is granted.
        func grant(_ sender: String) async throws -> [Int64] {
            try await service.requestMore(campaignID: c, sender: sender).conversationIDs
        }

        /// Puts one conversation back in the pool with raw SQL.
        func unassign(_ id: Int64) async throws {
            try await f.database.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(id)")
        }
    }

    @Test("conversations put back by undo, a single unassign, raw SQL or Unassign All are granted first again")
    func everyWayBack() async throws {
        try await TestDatabase.with { database in
            let s = try await Scene(database)
            let ids = s.ids
            let first = try await s.service.requestMore(campaignID: s.c, sender: "kevin")
            _ = try await s.grant("rebecca")
            #expect(try await Self.startHolds(database, campaignID: s.c))

            _ = try await s.f.assignments.undo(batchID: try #require(first.result.batchID), actor: "ada")
            #expect(try await s.grant("kevin") == Array(ids[0...2]))

            _ = try await s.f.assignments.reassign(conversationID: ids[4], to: nil, actor: "ada")
            try await s.unassign(ids[3])
            #expect(try await s.grant("rebecca") == [ids[3], ids[4], ids[6]])

            let preview = try await s.f.assignments.previewUnassignAll(campaignID: s.c, from: nil, status: .any,
                                                                       actor: "ada")
            _ = try await s.f.assignments.unassignAll(campaignID: s.c, from: nil, status: .any, actor: "ada",
                                                      confirmationToken: preview.confirmationToken)
            #expect(try await s.grant("kevin") == Array(ids[0...2]))
            #expect(try await Self.startHolds(database, campaignID: s.c))
            #expect(try await s.f.countsAddUp())
        }
    }

    @Test("a campaign without a pool start row is claimed from its pool's beginning")
    func withoutRow() async throws {
        try await TestDatabase.with { database in
            let s = try await Scene(database, conversations: 9)
            try await database.query("DELETE FROM campaign_pool_starts WHERE campaign_id = \(s.c)")
            #expect(try await s.grant("kevin") == Array(s.ids[0...2]))
            #expect(try await s.grant("rebecca") == Array(s.ids[3...5]))
            try await s.unassign(s.ids[1])
            #expect(try await s.grant("rebecca") == [s.ids[1], s.ids[6], s.ids[7]])
        }
    }

    @Test("a claim alongside an uncommitted return leaves the start alone; after the commit the returned row comes first")
    func claimAlongsideReturn() async throws {
        try await TestDatabase.with { database in
            let s = try await Scene(database)
            _ = try await s.grant("kevin")
            try await database.client.withConnection { writer in
                try await writer.query("BEGIN", logger: database.logger)
                try await writer.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(s.ids[0])",
                                       logger: database.logger)
                // The writer holds the start's row: this claim neither waits for it nor moves it.
                #expect(try await s.grant("rebecca") == Array(s.ids[3...5]))
                try await writer.query("COMMIT", logger: database.logger)
            }
            #expect(try await s.grant("rebecca") == [s.ids[0], s.ids[6], s.ids[7]])
            #expect(try await Self.startHolds(database, campaignID: s.c))
        }
    }

    @Test("a REPEATABLE READ return whose snapshot is older than the start's last move fails whole, and can be retried")
    func staleSnapshotRefused() async throws {
        try await TestDatabase.with { database in
            let s = try await Scene(database)
            _ = try await s.grant("kevin")
            try await database.client.withConnection { writer in
                try await writer.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: database.logger)
                _ = try await writer.query("SELECT count(*) FROM conversations", logger: database.logger)
                // A claim moves the start past everything kevin holds, after the writer's snapshot.
                _ = try await s.grant("rebecca")
                do {
                    try await writer.query("UPDATE conversations SET assignee_id = NULL WHERE id = \(s.ids[0])",
                                           logger: database.logger)
                    Issue.record("a return read a pool start older than the committed one")
                } catch {
                    #expect(error.sqlState == "40001", "\(String(reflecting: error))")
                }
                try await writer.query("ROLLBACK", logger: database.logger)
            }
            #expect(try await s.f.count(of: "kevin") == 3)
            try await s.unassign(s.ids[0])
            #expect(try await s.grant("rebecca").first == s.ids[0])
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
