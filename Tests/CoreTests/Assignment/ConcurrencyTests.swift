import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Batch operations under concurrency")
struct ConcurrencyTests {
    @Test("operations and single reassigns racing for seconds: counts add up, history replays, nothing half-applied")
    func race() async throws {
        try await TestDatabase.with(maximumConnections: 16) { database in
            let handles = ["a", "b", "c", "d"]
            let f = try await Fixture.make(database, senders: handles, conversations: 400)
            let ids = try await f.conversationIDs()
            let deadline = ContinuousClock.now + .seconds(4)
            let outcomes = try await withThrowingTaskGroup(of: (ok: Int, busy: Int).self) { group in
                for worker in 0..<10 {
                    group.addTask {
                        var ok = 0
                        var busy = 0
                        // At least two tries each, however slow the host: the checks below are about what the
                        // race leaves behind, not about how many operations fit in four seconds.
                        while ContinuousClock.now < deadline || ok + busy < 2 {
                            do {
                                switch worker % 5 {
                                case 0:
                                    _ = try await f.assignments.reassignAll(
                                        f.request(.anyone, .senders(handles.shuffled()),
                                                  distribution: Bool.random() ? .even : .balance))
                                case 1:
                                    _ = try await f.assignments.reassignSome(
                                        f.request(Bool.random() ? .unassigned : .sender(handles.randomElement()!),
                                                  .senders([handles.randomElement()!]), count: Int.random(in: 1...50)))
                                case 2:
                                    let from = handles.randomElement()!
                                    let preview = try await f.assignments.previewUnassignAll(
                                        campaignID: f.campaign.id, from: from, status: .any, actor: "tester")
                                    _ = try await f.assignments.unassignAll(
                                        campaignID: f.campaign.id, from: from, status: .any, actor: "tester",
                                        confirmationToken: preview.confirmationToken)
                                default:
                                    _ = try await f.assignments.reassign(
                                        conversationID: ids.randomElement()!,
                                        to: Bool.random() ? handles.randomElement()! : nil, actor: "tester")
                                }
                                ok += 1
                            } catch let error as SwitchboardError where error.code == "busy" {
                                busy += 1
                            }
                        }
                        return (ok, busy)
                    }
                }
                return try await group.reduce(into: [(ok: Int, busy: Int)]()) { $0.append($1) }
            }
            let done = outcomes.reduce(0) { $0 + $1.ok }
            #expect(done > 10, "operations completed: \(outcomes)")
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
            #expect(try await f.batchesAreWhole())
            let rows = try await database.query("""
                SELECT count(*) FROM assignment_batches WHERE campaign_id = \(f.campaign.id) AND moved + unchanged <> matched
                """)
            #expect(try rows[0].decode(Int.self) == 0)
        }
    }

    @Test("two undos of one batch at once: exactly one wins")
    func undoRace() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let all = try await f.assignments.reassignAll(f.request(.unassigned, .allActive))
            let batch = try #require(all.batchID)
            let results = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<6 {
                    group.addTask { (try? await f.assignments.undo(batchID: batch, actor: "t")) != nil }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
            #expect(try await f.count(of: nil) == 6)
            #expect(try await f.countsAddUp())
        }
    }
}
