import Foundation
import NIOConcurrencyHelpers
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Hardening: organizers first, history in effect order")
struct OrganizersFirstTests {
    @Test("50 texters requesting and releasing beside 10 organizer batches: every batch succeeds, nothing granted twice",
          .timeLimit(.minutes(4)))
    func organizersFirst() async throws {
        try await TestDatabase.with(maximumConnections: 60) { database in
            let texters = (0..<50).map { String(format: "t%02d", $0) }
            let f = try await Fixture.make(database, senders: texters + ["kevin"], conversations: 3000,
                                           settings: .init(selfAssign: true, batchSize: 5, requireFinishedBatch: false))
            let done = ManagedFlag()
            let grants = try await withThrowingTaskGroup(of: (claims: Int, organizer: Int).self) { group in
                for texter in texters {
                    group.addTask {
                        let service = SelfAssignService(database)
                        var claims = 0
                        while !done.isSet {
                            do {
                                _ = try await service.requestMore(campaignID: f.campaign.id, sender: texter)
                                claims += 1
                                _ = try await service.release(campaignID: f.campaign.id, sender: texter)
                            } catch let error as SwitchboardError where error.kind == .refused {
                                continue
                            }
                        }
                        return (claims, 0)
                    }
                }
                group.addTask {
                    // Once the texters are going (their first grants are in history), ten organizer batches at once.
                    try await waitUntil {
                        try await database.query("SELECT count(*)::int FROM assignment_batches WHERE kind = 'self_assign'")[0]
                            .decode(Int.self) >= 20
                    }
                    let moved = try await withThrowingTaskGroup(of: Int.self) { batches in
                        for index in 0..<10 {
                            batches.addTask {
                                let request = index % 2 == 0
                                    ? f.request(.unassigned, .senders(["kevin"]), status: .only(.notStarted), count: 20)
                                    : f.request(.unassigned, .senders(["kevin", "t00"]), count: 10)
                                return try await f.assignments.reassignSome(request).moved
                            }
                        }
                        return try await batches.reduce(0, +)
                    }
                    done.set()
                    return (0, moved)
                }
                return try await group.reduce(into: (claims: 0, organizer: 0)) {
                    $0.claims += $1.claims
                    $0.organizer += $1.organizer
                }
            }
            print("organizers first: \(grants.claims) self-assign grants beside 10 organizer batches")
            #expect(grants.organizer == 150)
            #expect(grants.claims > 0)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
            #expect(try await f.batchesAreWhole())
        }
    }

    @Test("claims and single reassigns racing on a small pool: each conversation's history replays in effect order")
    func effectOrder() async throws {
        try await TestDatabase.with(maximumConnections: 30) { database in
            let texters = (0..<8).map { "t\($0)" }
            let f = try await Fixture.make(database, senders: texters, conversations: 40,
                                           settings: .init(selfAssign: true, batchSize: 3, requireFinishedBatch: false))
            let ids = try await f.conversationIDs()
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for texter in texters {
                    group.addTask {
                        let service = SelfAssignService(database)
                        while ContinuousClock.now - start < .seconds(3) {
                            _ = try? await service.requestMore(campaignID: f.campaign.id, sender: texter)
                            _ = try? await service.release(campaignID: f.campaign.id, sender: texter)
                        }
                    }
                }
                for _ in 0..<4 {
                    group.addTask {
                        while ContinuousClock.now - start < .seconds(3) {
                            _ = try? await f.assignments.reassign(conversationID: ids.randomElement()!,
                                                                  to: Bool.random() ? texters.randomElement()! : nil,
                                                                  actor: "tester")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await f.historyReplays())
            for id in ids.prefix(10) {
                let changes = try await HistoryService(database).conversation(id: id)
                #expect(zip(changes, changes.dropFirst()).allSatisfy { $0.to == $1.from }, "conversation \(id)")
            }
        }
    }

    @Test("--to-all deals in bytewise handle order, whatever the column's collation")
    func bytewiseOrder() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["a_x", "a-x"], conversations: 1)
            let icu = try await database.query("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'")
            if try icu[0].decode(Int.self) == 1 {
                // ICU sorts '_' before '-'; bytes put '-' (0x2d) before '_' (0x5f).
                try await database.query(#"ALTER TABLE users ALTER COLUMN handle TYPE text COLLATE "und-x-icu""#)
            }
            let result = try await f.assignments.reassignAll(f.request(.unassigned, .allActive))
            #expect(result.perSender.map(\.handle) == ["a-x", "a_x"])
            #expect(try await f.assignees() == ["a-x"])
        }
    }

    @Test("a block past the targets raises an error instead of unassigning")
    func impossibleBucket() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            await #expect(throws: (any Error).self) {
                try await database.query("""
                    SELECT \(unescaped: AssignmentService.target("ARRAY[5, 0]", bucket: "3")) FROM conversations c
                    WHERE c.campaign_id = \(f.campaign.id)
                    """)
            }
            let ok = try await database.query("SELECT \(unescaped: AssignmentService.target("ARRAY[5, 0]", bucket: "2"))")
            #expect(try ok[0].decode(Int64?.self) == nil)
        }
    }
}

/// A flag set once, read by many tasks.
final class ManagedFlag: Sendable {
    private let value = NIOLockedValueBox(false)
    var isSet: Bool { value.withLockedValue { $0 } }
    func set() { value.withLockedValue { $0 = true } }
}
