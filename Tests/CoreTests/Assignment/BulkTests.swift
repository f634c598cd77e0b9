import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Batch operations")
struct BulkTests {
    @Test("the ThruText walkthrough, every step in history, undo restores the last")
    func walkthrough() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let all = try await f.assignments.reassignAll(f.request(.unassigned, .allActive))
            #expect(all.perSender == [.init(handle: "kevin", received: 3), .init(handle: "rebecca", received: 3)])
            #expect(try await f.assignees() == ["kevin", "kevin", "kevin", "rebecca", "rebecca", "rebecca"])

            let some = try await f.assignments.reassignSome(
                f.request(.sender("kevin"), .senders(["rebecca"]), status: .only(.notStarted), count: 1))
            #expect(some.moved == 1 && some.requested == 1)
            #expect(try await f.count(of: "kevin") == 2)
            #expect(try await f.count(of: "rebecca") == 4)

            let ids = try await f.conversationIDs()
            let single = try await f.assignments.reassign(conversationID: ids[5], to: "kevin", actor: "tester")
            #expect(single.moved == 1 && single.operation == .reassign)
            #expect(try await f.count(of: "kevin") == 3)

            let preview = try await f.assignments.previewUnassignAll(campaignID: f.campaign.id, from: "kevin",
                                                                     status: .any, actor: "tester")
            #expect(preview.count == 3)
            let unassigned = try await f.assignments.unassignAll(campaignID: f.campaign.id, from: "kevin", status: .any,
                                                                 actor: "tester", confirmationToken: preview.confirmationToken)
            #expect(unassigned.moved == 3 && unassigned.perSender.isEmpty)
            #expect(try await f.count(of: "kevin") == 0)
            #expect(try await f.count(of: nil) == 3)

            let batches = try await HistoryService(database).campaign(id: f.campaign.id)
            #expect(batches.map(\.kind) == ["unassign_all", "reassign", "reassign_some", "reassign_all"])
            let undo = try await f.assignments.undo(batchID: try #require(unassigned.batchID), actor: "tester")
            #expect(undo.moved == 3 && undo.skipped == 0 && undo.perSender == [.init(handle: "kevin", received: 3)])
            #expect(try await f.count(of: "kevin") == 3)
            #expect(try await f.count(of: nil) == 0)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
            #expect(try await f.batchesAreWhole())
            let history = try await HistoryService(database).conversation(id: ids[5])
            #expect(history.map(\.kind) == ["reassign_all", "reassign", "unassign_all", "undo"])
        }
    }

    @Test("even split arithmetic", arguments: [(7, 3), (2, 5), (0, 3), (6, 2), (10, 4)])
    func evenSplit(k: Int, n: Int) async throws {
        try await TestDatabase.with { database in
            let handles = (1...n).map { "t\($0)" }
            let f = try await Fixture.make(database, senders: handles, conversations: 0)
            if k > 0 { try await Fixture.importContacts(database, campaignID: f.campaign.id, count: k) }
            let result = try await f.assignments.reassignAll(f.request(.unassigned, .senders(handles.reversed())))
            let expected = EvenSplit.shares(of: k, over: n)
            #expect(result.perSender.map(\.received) == expected)
            #expect(result.perSender.map(\.handle) == handles.reversed())
            #expect(result.matched == k && result.moved == k)
            #expect(result.batchID == (k == 0 ? nil : result.batchID) && (k == 0) == (result.batchID == nil))
            // Blocks in creation order: the first target named gets the oldest block.
            var expectedOrder: [String?] = []
            for (handle, share) in zip(handles.reversed(), expected) { expectedOrder += Array(repeating: handle, count: share) }
            #expect(try await f.assignees() == expectedOrder)
            #expect(expected.max()! - expected.min()! <= 1 && expected.reduce(0, +) == k)
        }
    }

    /// Creation times of 20 conversations, in id order, in seconds.
    enum CreationTimes: String, CaseIterable, CustomTestStringConvertible {
        case oneImport, inIDOrderWithTies, someOutOfIDOrder, reversed

        var seconds: [Int] {
            switch self {
            case .oneImport: Array(repeating: 0, count: 20)
            case .inIDOrderWithTies: (0..<20).map { $0 / 3 }
            // Rows older than lower ids, younger than higher ids, and sharing a block's first time on either
            // side of its first id.
            case .someOutOfIDOrder: (0..<20).map { [4: 0, 5: 3, 9: 2, 15: 2, 16: 4][$0] ?? $0 / 3 }
            case .reversed: (0..<20).map { (20 - $0) / 4 }
            }
        }

        /// How the UPDATE finds each row's block: by id, by (created_at, id), or by numbering the rows.
        var dealing: String {
            switch self {
            case .oneImport, .inIDOrderWithTies: "ids"
            case .someOutOfIDOrder: "keys"
            case .reversed: "numbering"
            }
        }

        var testDescription: String { rawValue }
    }

    @Test("blocks follow creation time, then id, whether or not ids are in creation order", arguments: CreationTimes.allCases)
    func creationOrder(times: CreationTimes) async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["a", "b", "c"], conversations: 20)
            let byID = try await database.query("SELECT id FROM conversations WHERE campaign_id = \(f.campaign.id) ORDER BY id")
                .map { try $0.decode(Int64.self) }
            try await database.query("""
                UPDATE conversations c SET created_at = timestamptz '2026-01-01 00:00:00+00' + t.s * interval '1 second'
                FROM unnest(\(byID)::bigint[], \(times.seconds)::int[]) AS t (id, s) WHERE c.id = t.id
                """)
            let selection = AssignmentService.Selection(campaignID: f.campaign.id, source: .anyone)
            let dealing = try await database.transaction(.repeatableRead) { connection in
                switch try await AssignmentService.Blocks.find(selection, starts: [0, 7, 14], matched: 20,
                                                               on: connection, logger: database.logger) {
                case .ids?: "ids"
                case .keys?: "keys"
                case .all?: "all"
                case nil: "numbering"
                }
            }
            #expect(dealing == times.dealing)

            // f.assignees() lists conversations by (created_at, id).
            let all = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["c", "a", "b"])))
            #expect(all.perSender.map(\.received) == [7, 7, 6])
            var expected: [String?] = Array(repeating: "c", count: 7) + Array(repeating: "a", count: 7)
                + Array(repeating: "b", count: 6)
            #expect(try await f.assignees() == expected)

            let some = try await f.assignments.reassignSome(f.request(.anyone, .senders(["b", "a"]), count: 9))
            #expect(some.matched == 9 && some.perSender.map(\.received) == [5, 2])
            expected.replaceSubrange(0..<9, with: Array(repeating: "b", count: 5) + Array(repeating: "a", count: 4))
            #expect(try await f.assignees() == expected)

            let last = try await f.assignments.reassignSome(f.request(.sender("b"), .senders(["c"]), count: 4))
            #expect(last.moved == 4)
            expected.replaceSubrange(0..<4, with: Array(repeating: "c", count: 4))
            #expect(try await f.assignees() == expected)
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
            #expect(try await f.batchesAreWhole())
        }
    }

    @Test("a conversation already on its computed target is unchanged")
    func unchanged() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .allActive))
            let again = try await f.assignments.reassignAll(f.request(.anyone, .allActive))
            #expect(again.matched == 6 && again.moved == 0 && again.unchanged == 6 && again.batchID == nil)
            let swapped = try await f.assignments.reassignAll(f.request(.anyone, .senders(["rebecca", "kevin"])))
            #expect(swapped.moved == 6 && swapped.unchanged == 0)
        }
    }

    @Test("a dry run reports exactly what the real run does, and changes nothing")
    func dryRunEqualsRealRun() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["a", "b", "c"], conversations: 17)
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["b"]), count: 4))
            let requests = [
                f.request(.anyone, .allActive),
                f.request(.anyone, .senders(["c", "a"]), count: 9),
                f.request(.unassigned, .allActive, distribution: .balance),
                f.request(.sender("b"), .senders(["a", "b"]), status: .only(.notStarted)),
            ]
            for request in requests {
                var dry = request
                dry.dryRun = true
                let before = try await f.assignees()
                let preview = request.count == nil ? try await f.assignments.reassignAll(dry)
                                                   : try await f.assignments.reassignSome(dry)
                #expect(try await f.assignees() == before)
                var real = request.count == nil ? try await f.assignments.reassignAll(request)
                                                : try await f.assignments.reassignSome(request)
                #expect(real.batchID != nil || real.moved == 0)
                real.batchID = nil
                real.dryRun = true
                // Only a dry run issues a preview token.
                #expect(preview.previewToken != nil && real.previewToken == nil)
                real.previewToken = preview.previewToken
                #expect(preview == real)
            }
            let preview = try await f.assignments.unassignAll(campaignID: f.campaign.id, from: "a", status: .any,
                                                              actor: "tester", confirmationToken: nil, dryRun: true)
            let token = try await f.assignments.previewUnassignAll(campaignID: f.campaign.id, from: "a", status: .any,
                                                                   actor: "tester")
            var real = try await f.assignments.unassignAll(campaignID: f.campaign.id, from: "a", status: .any,
                                                           actor: "tester", confirmationToken: token.confirmationToken)
            real.batchID = nil
            real.dryRun = true
            // The confirmation bound what its preview counted: nothing had stopped matching.
            #expect(real.noLongerMatching == 0)
            real.noLongerMatching = nil
            real.previewToken = preview.previewToken
            #expect(preview == real && token.count == real.matched)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("reassign some moves fewer when fewer match, and says so")
    func someFewer() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 3)
            let result = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 10))
            #expect(result.requested == 10 && result.matched == 3 && result.moved == 3)
        }
    }

    @Test("balance evens out the targets' open loads")
    func balance() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["a", "b", "c"], conversations: 12)
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["a"]), count: 5))
            let result = try await f.assignments.reassignAll(f.request(.unassigned, .allActive, distribution: .balance))
            #expect(result.perSender.map(\.received) == [0, 4, 3] || result.perSender.map(\.received) == [0, 3, 4])
            #expect(try await f.count(of: "a") == 5)
            #expect(try await f.count(of: nil) == 0)
            #expect(Balance.shares(of: 7, loads: [5, 0, 0]) == [0, 4, 3])
            #expect(Balance.shares(of: 10, loads: [5, 0, 0]) == [0, 5, 5])
            #expect(Balance.shares(of: 12, loads: [5, 0, 0]) == [1, 6, 5])
            #expect(Balance.shares(of: 2, loads: [5, 0, 0]) == [0, 1, 1])
            #expect(Balance.shares(of: 0, loads: [1, 2]) == [0, 0])
            #expect(Balance.shares(of: 5, loads: [0, 0]) == [3, 2])
        }
    }

    @Test("bad input is named, refused, and changes nothing")
    func badInput() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca", "sleepy"])
            try await SenderService(database).deactivate(campaignID: f.campaign.id, handle: "sleepy")
            let other = try await CampaignService(database).create(orgID: f.org.id, name: "Other")
            _ = try await Directory(database).addUser(orgID: f.org.id, handle: "elsewhere")
            try await SenderService(database).add(campaignID: other.id, handles: ["elsewhere"])
            let otherOrg = try await Directory(database).createOrganization(name: "Other org")
            _ = try await Directory(database).addUser(orgID: otherOrg.id, handle: "stranger")
            try await Fixture.importContacts(database, campaignID: other.id, count: 1, offset: 500)
            let a = f.assignments

            await expectCode("unknown_campaign") {
                _ = try await a.reassignAll(.init(campaignID: 999_999, source: .anyone, target: .allActive, actor: "t"))
            }
            await expectCode("unknown_sender") { _ = try await a.reassignAll(f.request(.sender("ghost"), .allActive)) }
            await expectCode("not_a_sender") { _ = try await a.reassignAll(f.request(.sender("elsewhere"), .allActive)) }
            await expectCode("unknown_sender") { _ = try await a.reassignAll(f.request(.anyone, .senders(["stranger"]))) }
            await expectCode("inactive_target") { _ = try await a.reassignAll(f.request(.anyone, .senders(["sleepy"]))) }
            await expectCode("missing_target") { _ = try await a.reassignAll(f.request(.anyone, .senders([]))) }
            await expectCode("duplicate_target") { _ = try await a.reassignAll(f.request(.anyone, .senders(["kevin", "kevin"]))) }
            await expectCode("invalid_count") { _ = try await a.reassignSome(f.request(.anyone, .allActive, count: 0)) }
            await expectCode("invalid_count") { _ = try await a.reassignSome(f.request(.anyone, .allActive, count: -3)) }
            #expect(throws: SwitchboardError.self) { try StatusFilter(parsing: "bogus") }
            let otherConversation = try await ConversationService(database).list(campaignID: other.id).conversations[0].id
            await expectCode("unknown_conversation") {
                _ = try await a.reassign(conversationID: otherConversation, to: "kevin", actor: "t", campaignID: f.campaign.id)
            }
            await expectCode("not_a_sender") { _ = try await a.reassign(conversationID: otherConversation, to: "kevin", actor: "t") }
            await expectCode("unknown_conversation") { _ = try await a.reassign(conversationID: 999_999, to: "kevin", actor: "t") }
            // A deactivated sender can be a source.
            let fromInactive = try await a.reassignAll(f.request(.sender("sleepy"), .allActive))
            #expect(fromInactive.matched == 0)
            #expect(try await f.count(of: nil) == 6)
            #expect(try await HistoryService(database).campaign(id: f.campaign.id).isEmpty)
        }
    }

    @Test("confirmation tokens: wrong, used, expired, or for another operation are refused")
    func confirmations() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .allActive))
            let a = f.assignments
            func run(_ token: String?, from: String = "kevin", status: StatusFilter = .any, actor: String = "tester") async throws {
                _ = try await a.unassignAll(campaignID: f.campaign.id, from: from, status: status, actor: actor,
                                            confirmationToken: token)
            }
            await expectCode("confirmation_required") { try await run(nil) }
            await expectCode("invalid_confirmation") { try await run("uc_nonsense") }
            let preview = try await a.previewUnassignAll(campaignID: f.campaign.id, from: "kevin", status: .any, actor: "tester")
            await expectCode("invalid_confirmation") { try await run(preview.confirmationToken, from: "rebecca") }
            await expectCode("invalid_confirmation") { try await run(preview.confirmationToken, status: .only(.waiting)) }
            await expectCode("invalid_confirmation") { try await run(preview.confirmationToken, actor: "someone-else") }
            #expect(try await f.count(of: "kevin") == 3)
            try await run(preview.confirmationToken)
            #expect(try await f.count(of: "kevin") == 0)
            await expectCode("invalid_confirmation") { try await run(preview.confirmationToken) }
            let late = try await a.previewUnassignAll(campaignID: f.campaign.id, from: "rebecca", status: .any, actor: "tester")
            try await database.query("UPDATE confirmation_tokens SET expires_at = now() - interval '1 second'")
            await expectCode("invalid_confirmation") { try await run(late.confirmationToken, from: "rebecca") }
            #expect(try await f.count(of: "rebecca") == 3)
        }
    }

    @Test("history in runs: a batch over several id blocks reads back per conversation, per batch, and undoes")
    func historyRuns() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 2_500)
            let ids = try await f.conversationIDs()
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .allActive))
            let swap = try await f.assignments.reassignAll(f.request(.anyone, .senders(["rebecca", "kevin"])))
            let batchID = try #require(swap.batchID)
            #expect(swap.moved == 2_500)
            // Stored in runs: a few rows per target, holding every moved conversation once.
            let (runs, held) = try await database.query("""
                SELECT count(*), sum(cardinality(conversation_ids))::bigint FROM assignment_moves
                WHERE campaign_id = \(f.campaign.id) AND batch_id = \(batchID)
                """)[0].decode((Int, Int).self)
            #expect(held == 2_500 && runs >= 2 && runs <= 8, "runs: \(runs), ids held: \(held)")
            let distinct = try await database.query("""
                SELECT count(DISTINCT conversation_id) FROM assignment_changes
                WHERE campaign_id = \(f.campaign.id) AND batch_id = \(batchID)
                """)[0].decode(Int.self)
            #expect(distinct == 2_500)
            // Each conversation's own moves, including those at the edges of runs.
            let history = HistoryService(database)
            for position in [0, 999, 1_000, 1_249, 1_250, 2_000, 2_499] {
                let first = position < 1_250 ? "kevin" : "rebecca"
                let second = position < 1_250 ? "rebecca" : "kevin"
                let moves = try await history.conversation(id: ids[position])
                #expect(moves.map(\.conversationID) == [ids[position], ids[position]])
                #expect(moves.map(\.from) == [nil, first] && moves.map(\.to) == [first, second], "position \(position)")
            }
            let page = try await history.changes(batchID: batchID, limit: 5)
            #expect(page.map(\.conversationID) == Array(ids.sorted().prefix(5)))
            #expect(page.allSatisfy { $0.from == "kevin" && $0.to == "rebecca" })
            let undo = try await f.assignments.undo(batchID: batchID, actor: "tester")
            #expect(undo.moved == 2_500 && undo.skipped == 0)
            #expect(try await f.assignees() == [String?](repeating: "kevin", count: 1_250) + [String?](repeating: "rebecca", count: 1_250))
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
            #expect(try await f.batchesAreWhole())
            // A run cannot claim a conversation moved to where it already was.
            await #expect(throws: (any Error).self) {
                try await database.query("""
                    INSERT INTO assignment_moves VALUES (\(f.campaign.id), \(batchID), NULL, 1, 2, '{1,2}', '{5,NULL}')
                    """)
            }
        }
    }

    @Test("undo skips conversations moved since, and a batch is undone once")
    func undo() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let all = try await f.assignments.reassignAll(f.request(.unassigned, .allActive))
            let ids = try await f.conversationIDs()
            _ = try await f.assignments.reassign(conversationID: ids[0], to: "rebecca", actor: "t")
            let undo = try await f.assignments.undo(batchID: try #require(all.batchID), actor: "t")
            #expect(undo.matched == 6 && undo.moved == 5 && undo.skipped == 1)
            #expect(try await f.assignees() == ["rebecca", nil, nil, nil, nil, nil])
            await expectCode("already_undone") { _ = try await f.assignments.undo(batchID: all.batchID!, actor: "t") }
            await expectCode("unknown_batch") { _ = try await f.assignments.undo(batchID: 424_242, actor: "t") }
            #expect(try await f.historyReplays())
        }
    }
}
