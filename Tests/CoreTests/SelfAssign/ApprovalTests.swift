import Foundation
import PostgresNIO
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Request approval")
struct ApprovalTests {
    /// A self-assign campaign (batch 3) that holds requests for approval.
    static func campaign(_ database: Database, conversations: Int = 12) async throws -> Fixture {
        let f = try await Fixture.make(database, senders: ["kevin", "rebecca"], conversations: conversations,
                                       settings: .init(selfAssign: true, batchSize: 3, requireFinishedBatch: false))
        _ = try await CampaignService(database).update(id: f.campaign.id, requestApproval: true)
        return f
    }

    @Test("a request waits; approving grants a batch of kind request, once; the texter's second request is the same one")
    func pendingThenApproved() async throws {
        try await TestDatabase.with { database in
            let f = try await Self.campaign(database)
            let service = SelfAssignService(database)
            let waiting = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin", count: 2)
            #expect(waiting.pendingRequest != nil && waiting.conversations.isEmpty)
            #expect(try await f.count(of: "kevin") == 0, "nothing is granted before approval")
            let again = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin")
            #expect(again.pendingRequest == waiting.pendingRequest, "one waiting request per texter")

            let requests = RequestService(database)
            let listed = try await requests.list(campaignID: f.campaign.id, status: .pending)
            #expect(listed.map(\.sender) == ["kevin"] && listed[0].count == 2)

            let decided = try await requests.approve([waiting.pendingRequest!], actor: "ada")
            #expect(decided.count == 1 && decided[0].refusal == nil)
            let approved = decided[0].request
            #expect(approved.status == .approved && approved.granted == 2 && approved.decidedBy == "ada")
            #expect(try await f.count(of: "kevin") == 2)
            let batch = try await HistoryService(database).batch(id: approved.batchID!)
            #expect(batch.kind == "request" && batch.actor == "ada" && batch.parameters["request"] == String(approved.id))

            let twice = await #expect(throws: SwitchboardError.self) {
                _ = try await requests.approve([approved.id], actor: "ada")
            }
            #expect(twice?.kind == .conflict && twice?.code == "already_decided")
            #expect(try await f.count(of: "kevin") == 2, "a decided request grants nothing more")
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("two organizers approving the same request at once: exactly one grant, the other gets already_decided")
    func racingApprovers() async throws {
        try await TestDatabase.with(maximumConnections: 8) { database in
            let f = try await Self.campaign(database)
            let id = try await SelfAssignService(database).requestMore(campaignID: f.campaign.id, sender: "kevin")
                .pendingRequest!
            let requests = RequestService(database)
            // The request's row is held while both approvers start, so both are inside their decision at once:
            // PostgreSQL shows the two waiting for it before it is let go.
            let outcomes = try await database.client.withConnection { holder in
                try await holder.query("BEGIN", logger: database.logger)
                try await holder.query("SELECT 1 FROM assignment_requests WHERE id = \(id) FOR UPDATE", logger: database.logger)
                let approvals = ["ada", "bea"].map { approver in
                    Task {
                        do {
                            _ = try await requests.approve([id], actor: approver)
                            return "granted"
                        } catch let error as SwitchboardError {
                            return error.code
                        }
                    }
                }
                #expect(try await waitUntil { try await database.lockWaiters(running: "FROM assignment_requests r") == 2 })
                try await holder.query("COMMIT", logger: database.logger)
                var outcomes: [String] = []
                for approval in approvals { outcomes.append(try await approval.value) }
                return outcomes
            }
            #expect(outcomes.sorted() == ["already_decided", "granted"])
            #expect(try await f.count(of: "kevin") == 3)
            let grants = try await database.query(
                "SELECT count(*) FROM assignment_batches WHERE campaign_id = \(f.campaign.id) AND kind = 'request'")
            #expect(try grants[0].decode(Int.self) == 1)
        }
    }

    @Test("deny with a note; auto-approved texters are granted at once; a texter cannot decide their own request")
    func denyAndAutoApprove() async throws {
        try await TestDatabase.with { database in
            let f = try await Self.campaign(database)
            let service = SelfAssignService(database)
            let requests = RequestService(database)
            let id = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin").pendingRequest!
            let own = await #expect(throws: SwitchboardError.self) { _ = try await requests.approve([id], actor: "kevin") }
            #expect(own?.kind == .forbidden)
            let denied = try await requests.deny([id], note: "Finish your training first.", actor: "ada")
            #expect(denied[0].status == .denied && denied[0].note == "Finish your training first.")
            #expect(try await requests.latest(campaignID: f.campaign.id,
                                              userID: Directory(database).user(orgID: f.org.id, handle: "kevin").id)?.status == .denied)
            #expect(try await f.count(of: "kevin") == 0)

            _ = try await Directory(database).update(orgID: f.org.id, handle: "rebecca", autoApprove: true)
            let grant = try await service.requestMore(campaignID: f.campaign.id, sender: "rebecca")
            #expect(grant.pendingRequest == nil && grant.result.moved == 3 && grant.result.operation == .selfAssign)

            let unknown = await #expect(throws: SwitchboardError.self) { _ = try await requests.deny([999_999], actor: "ada") }
            #expect(unknown == SwitchboardError(.notFound, "unknown_request", "Request 999999 does not exist."))
        }
    }

    @Test("approval applies the rules at that moment: fewer than asked when the pool runs short; a refusal keeps it pending")
    func rulesAtApproval() async throws {
        try await TestDatabase.with { database in
            let f = try await Self.campaign(database, conversations: 4)
            let service = SelfAssignService(database)
            let kevin = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin").pendingRequest!
            let rebecca = try await service.requestMore(campaignID: f.campaign.id, sender: "rebecca").pendingRequest!
            let requests = RequestService(database)
            let decisions = try await requests.approve([kevin, rebecca], actor: "ada")
            #expect(decisions.map { $0.request.granted } == [3, 1], "3 asked each, 4 in the pool")
            let third = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin", count: 1).pendingRequest!
            let empty = await #expect(throws: SwitchboardError.self) { _ = try await requests.approve([third], actor: "ada") }
            #expect(empty?.code == "pool_empty")
            #expect(try await requests.list(campaignID: f.campaign.id, status: .pending).map(\.id) == [third],
                    "refused by the rules, it stays pending")
        }
    }

    @Test("a request left pending 24 hours expires: listed as expired, refused as already decided, and the texter may ask again")
    func expiry() async throws {
        try await TestDatabase.with { database in
            let f = try await Self.campaign(database)
            let service = SelfAssignService(database)
            let id = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin").pendingRequest!
            try await database.query("""
                UPDATE assignment_requests SET created_at = now() - interval '25 hours' WHERE id = \(id)
                """)
            let requests = RequestService(database)
            #expect(try await requests.list(campaignID: f.campaign.id, status: .expired).map(\.id) == [id])
            #expect(try await requests.list(campaignID: f.campaign.id, status: .pending).isEmpty)
            let late = await #expect(throws: SwitchboardError.self) { _ = try await requests.approve([id], actor: "ada") }
            #expect(late?.code == "already_decided" && late?.message.contains("expired") == true)
            let fresh = try await service.requestMore(campaignID: f.campaign.id, sender: "kevin").pendingRequest!
            #expect(fresh != id)
        }
    }
}
