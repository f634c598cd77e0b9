import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Plans and rehearsals")
struct PlanTests {
    @Test("a rehearsal sees its own changes, survives a failing statement, and commits nothing")
    func rehearsal() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let seen = try await database.rehearse {
                _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 4))
                await #expect(throws: (any Error).self) { try await database.query("SELECT 1 / 0") }
                _ = try await f.assignments.reassignSome(f.request(.sender("kevin"), .senders(["rebecca"]), count: 1))
                return try await SenderService(database).list(campaignID: f.campaign.id)
            }
            #expect(seen.senders.map(\.counts.total) == [3, 1])
            let after = try await SenderService(database).list(campaignID: f.campaign.id)
            #expect(after.senders.map(\.counts.total) == [0, 0] && after.unassigned.total == 6)
            let batches = try await database.query("SELECT count(*)::int FROM assignment_batches")
            #expect(try batches[0].decode(Int.self) == 0)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("a plan's preview: each step on the ones before; the first failure ends it; counts before → after")
    func preview() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let plan = try Plan(json: Data("""
                {"campaign": \(f.campaign.id), "steps": [
                  {"operation": "reassign-some", "from_unassigned": true, "to": ["kevin"], "count": 4},
                  {"operation": "unassign-all", "from": "kevin", "status": "not-started"},
                  {"operation": "reassign", "conversation": 999999, "to": "kevin"},
                  {"operation": "reassign-all", "from-unassigned": true, "to": "all"}
                ]}
                """.utf8))
            let preview = try await PlanService(database).preview(plan, actor: "tester")
            #expect(preview.steps.map(\.state) == ["done", "done", "failed", "not_run"])
            #expect(preview.steps[1].result?.moved == 4, "step 2 sees the four of step 1")
            #expect(preview.steps[2].error?.code == "unknown_conversation")
            #expect(preview.counts.map { "\($0.handle) \($0.before)→\($0.after)" }
                    == ["kevin 0→0", "rebecca 0→0", "(unassigned) 6→6"])
            let batches = try await database.query("SELECT count(*)::int FROM assignment_batches")
            #expect(try batches[0].decode(Int.self) == 0)
        }
    }

    @Test("a plan step's to-team deals to the team's active senders; naming a team and senders both is refused")
    func toTeam() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            _ = try await TeamService(database).create(orgID: f.org.id, name: "night")
            _ = try await TeamService(database).add(orgID: f.org.id, team: "night", handles: ["rebecca"])
            let plan = try Plan(json: Data("""
                {"campaign": \(f.campaign.id), "steps": [
                  {"operation": "reassign-some", "from-unassigned": true, "to-team": "night", "count": 3}
                ]}
                """.utf8))
            let preview = try await PlanService(database).preview(plan, actor: "tester")
            #expect(preview.steps.first?.result?.perSender == [SenderReceipt(handle: "rebecca", received: 3)])
            #expect(throws: SwitchboardError.self) {
                _ = try Plan(json: Data(#"[{"operation": "reassign-all", "from": "kevin", "to": "all", "to-team": "night", "campaign": 1}]"#.utf8))
            }
        }
    }

    @Test("a malformed plan is refused before anything runs, naming the step and the key")
    func malformed() throws {
        func error(_ json: String) -> String? {
            do { _ = try Plan(json: Data(json.utf8)); return nil } catch { return (error as? SwitchboardError)?.message }
        }
        #expect(error(#"{"steps": []}"#) == "The plan has no steps.")
        #expect(error(#"{"steps": [{"operation": "reassign-all", "form": "kevin", "to": "all"}]}"#)
                == "Step 1 has an unknown key 'form' for reassign-all.")
        #expect(error(#"[{"operation": "reassign-all", "from": "kevin", "to": "all", "campaign": 1}, {"operation": "explode"}]"#)
                == "Step 2 has an unknown operation 'explode'.")
        #expect(error(#"[{"operation": "reassign-all", "from": "kevin", "from-anyone": true, "to": "all", "campaign": 1}]"#)
                == "Step 1 needs exactly one of 'from', 'from-unassigned' and 'from-anyone'.")
        #expect(error(#"[{"operation": "reassign-some", "from": "kevin", "to": "all", "campaign": 1}]"#)
                == "Step 1 needs a 'count'.")
        #expect(error(#"[{"operation": "reassign-all", "from": "kevin", "to": "all"}]"#)
                == "Step 1 names no campaign (give 'campaign' in the step or at the top of the file).")
        #expect(error(#"[{"operation": "reassign-some", "from": "kevin", "to": "all", "campaign": 1, "count": "many"}]"#)
                == "Step 1: 'count' must be a whole number, not 'many'.")
    }
}
