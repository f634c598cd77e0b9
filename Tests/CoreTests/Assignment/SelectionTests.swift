import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Selection (contract, wave 3): filters narrow every bulk operation and list, and a preview token binds the set.
@Suite("Selection: filters and preview tokens")
struct SelectionTests {
    /// Ten unassigned conversations, Contact 1 … Contact 10, oldest first:
    /// - tags: vip on 1–4, spanish on 3–5;
    /// - fields: county Kent on 6 and 7, Sussex on 8;
    /// - last message: three days ago on 1–5, an hour ago on 6, none on 7–10.
    static func world(_ database: Database) async throws -> (Fixture, [Int64]) {
        let f = try await Fixture.make(database, conversations: 10)
        let ids = try await f.conversationIDs()
        try await tag(database, f, ids[0...3], "vip")
        try await tag(database, f, ids[2...4], "spanish")
        _ = try await database.query("""
            UPDATE contacts SET fields = CASE WHEN id = ANY(\([ids[5], ids[6]])::bigint[]) THEN '{"county": "Kent"}'::jsonb
                                              ELSE '{"county": "Sussex"}'::jsonb END
            WHERE campaign_id = \(f.campaign.id) AND id = ANY(\([ids[5], ids[6], ids[7]])::bigint[])
            """)
        _ = try await database.query("""
            UPDATE conversations SET last_message_at = now() - interval '3 days'
            WHERE campaign_id = \(f.campaign.id) AND id = ANY(\(Array(ids[0...4]))::bigint[])
            """)
        _ = try await database.query("""
            UPDATE conversations SET last_message_at = now() - interval '1 hour'
            WHERE campaign_id = \(f.campaign.id) AND id = \(ids[5])
            """)
        return (f, ids)
    }

    static func tag(_ database: Database, _ f: Fixture, _ ids: ArraySlice<Int64>, _ tag: String) async throws {
        _ = try await database.query("""
            INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
            SELECT \(f.campaign.id), id, \(tag) FROM unnest(\(Array(ids))::bigint[]) id
            """)
    }

    func filtered(_ f: Fixture, _ filter: ConversationFilter, count: Int? = nil) -> AssignmentService.BulkRequest {
        var request = f.request(.unassigned, .senders(["kevin"]), count: count)
        request.filter = filter
        return request
    }

    @Test("each filter alone and together narrows the preview, the list and the export alike")
    func eachFilter() async throws {
        try await TestDatabase.with { database in
            let (f, ids) = try await Self.world(database)
            let cases: [(ConversationFilter, [Int])] = [
                (.init(tags: ["vip"]), [0, 1, 2, 3]),
                (.init(tags: ["VIP", "spanish"]), [2, 3]),
                (.init(withoutTags: ["spanish"]), [0, 1, 5, 6, 7, 8, 9]),
                (.init(tags: ["vip"], withoutTags: ["spanish"]), [0, 1]),
                (.init(tags: ["nobody-has-this"]), []),
                (.init(lastMessageBefore: try When(parsing: "2d", field: "before")), [0, 1, 2, 3, 4]),
                (.init(lastMessageAfter: try When(parsing: "2d", field: "after")), [5]),
                (.init(lastMessageBefore: try When(parsing: "30m", field: "before")), [0, 1, 2, 3, 4, 5]),
                (.init(lastMessageAfter: .at(Date().addingTimeInterval(-4 * 86_400))), [0, 1, 2, 3, 4, 5]),
                (.init(fields: ["county": "Kent"]), [5, 6]),
                (.init(fields: ["county": "Nowhere"]), []),
                (.init(search: "contact 1"), [0, 9]),
                (.init(search: "2000003"), [2]),
                (.init(search: "100%"), []),
                (.init(conversationIDs: [ids[0], ids[9]]), [0, 9]),
                (.init(tags: ["vip"], lastMessageBefore: try When(parsing: "2d", field: "before"), search: "Contact 1"), [0]),
                (.init(withoutTags: ["vip"], fields: ["county": "Kent"], conversationIDs: [ids[6], ids[7]]), [6]),
            ]
            for (filter, expected) in cases {
                let preview = try await f.assignments.reassignAll(filtered(f, filter).dry())
                #expect(preview.matched == expected.count, "\(filter)")
                let page = try await ConversationService(database).list(campaignID: f.campaign.id, filter: filter)
                #expect(page.conversations.map(\.id) == expected.map { ids[$0] }, "\(filter)")
                var lines: [String] = []
                try await ConversationService(database).export(campaignID: f.campaign.id, filter: filter) { lines.append($0) }
                #expect(lines.count == expected.count + 1, "\(filter)")
            }
            // The preview moved nothing.
            #expect(try await f.count(of: nil) == 10)
        }
    }

    @Test("Reassign Some takes the oldest matching; hand-picked ids outside the source are not moved")
    func oldestMatchingAndPicked() async throws {
        try await TestDatabase.with { database in
            let (f, ids) = try await Self.world(database)
            let some: BatchResult
            do { some = try await f.assignments.reassignSome(filtered(f, .init(tags: ["spanish"]), count: 2)) }
            catch { Issue.record("\(String(reflecting: error))"); throw error }
            #expect(some.moved == 2)
            #expect(try await f.assignees() == [nil, nil, "kevin", "kevin", nil, nil, nil, nil, nil, nil])
            // ids[2] is kevin's now: picked from Unassigned, it is not taken; ids[0] is.
            var request = f.request(.unassigned, .senders(["rebecca"]))
            request.filter = .init(conversationIDs: [ids[2], ids[0]])
            let picked = try await f.assignments.reassignAll(request)
            #expect(picked.matched == 1 && picked.moved == 1)
            #expect(try await f.assignees() == ["rebecca", nil, "kevin", "kevin", nil, nil, nil, nil, nil, nil])
            #expect(try await f.countsAddUp())
            #expect(try await f.historyReplays())
        }
    }

    @Test("a preview token binds the set: one that stops matching and one that starts are both left alone")
    func tokenBindsTheSet() async throws {
        try await TestDatabase.with { database in
            let (f, ids) = try await Self.world(database)
            let request = filtered(f, .init(tags: ["vip"]))
            let preview = try await f.assignments.reassignAll(request.dry())
            #expect(preview.matched == 4)
            let token = try #require(preview.previewToken)
            // After the preview: Contact 1 loses the tag, Contact 9 gains it.
            _ = try await database.query("""
                DELETE FROM conversation_tags WHERE campaign_id = \(f.campaign.id) AND conversation_id = \(ids[0])
                """)
            try await Self.tag(database, f, ids[8...8], "vip")
            var run = request
            run.previewToken = token
            let result = try await f.assignments.reassignAll(run)
            #expect(result.moved == 3 && result.matched == 3 && result.noLongerMatching == 1)
            #expect(try await f.assignees() == [nil, "kevin", "kevin", "kevin", nil, nil, nil, nil, nil, nil])
            // Used once.
            await expectCode("preview_expired") { _ = try await f.assignments.reassignAll(run) }
            // Without a token the filter takes what matches now.
            #expect(try await f.assignments.reassignAll(request).moved == 1)
            #expect(try await f.count(of: "kevin") == 4)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("a token is refused with other parameters, another actor or another operation, and nothing moves")
    func tokenMismatch() async throws {
        try await TestDatabase.with { database in
            let (f, _) = try await Self.world(database)
            let request = filtered(f, .init(tags: ["vip"]))
            let token = try #require(try await f.assignments.reassignAll(request.dry()).previewToken)
            var changes: [AssignmentService.BulkRequest] = []
            var other = request
            other.filter = .init(tags: ["spanish"])
            changes.append(other)
            other = request
            other.target = .senders(["rebecca"])
            changes.append(other)
            other = request
            other.status = .only(.notStarted)
            changes.append(other)
            other = request
            other.actor = "someone-else"
            changes.append(other)
            for var change in changes {
                change.previewToken = token
                await expectCode("preview_mismatch") { _ = try await f.assignments.reassignAll(change) }
            }
            var some = request
            some.previewToken = token
            some.count = 4
            await expectCode("preview_mismatch") { _ = try await f.assignments.reassignSome(some) }
            #expect(try await f.count(of: nil) == 10)
            // The token still works with its own parameters.
            var run = request
            run.previewToken = token
            #expect(try await f.assignments.reassignAll(run).moved == 4)
        }
    }

    @Test("undo of a filtered batch; history records the filter")
    func undoAndHistory() async throws {
        try await TestDatabase.with { database in
            let (f, _) = try await Self.world(database)
            let moved = try await f.assignments.reassignAll(
                filtered(f, .init(withoutTags: ["vip"], fields: ["county": "Kent"])))
            #expect(moved.moved == 2)
            let batches = try await HistoryService(database).campaign(id: f.campaign.id)
            #expect(batches.first?.parameters["filter"] == "without-tag=vip, field county=Kent")
            let undo = try await f.assignments.undo(batchID: try #require(moved.batchID), actor: "tester")
            #expect(undo.moved == 2)
            #expect(try await f.count(of: nil) == 10)
            #expect(try await f.historyReplays())
            #expect(try await f.countsAddUp())
        }
    }

    @Test("Unassign All with a filter: the confirmation binds the filter and the counted set")
    func unassignAllBinds() async throws {
        try await TestDatabase.with { database in
            let (f, ids) = try await Self.world(database)
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["kevin"])))
            let filter = ConversationFilter(tags: ["spanish"])
            let preview = try await f.assignments.previewUnassignAll(campaignID: f.campaign.id, from: "kevin",
                                                                     status: .any, actor: "tester", filter: filter)
            #expect(preview.count == 3)
            // Another filter with this confirmation is refused.
            await expectCode("invalid_confirmation") {
                _ = try await f.assignments.unassignAll(campaignID: f.campaign.id, from: "kevin", status: .any,
                                                        actor: "tester", confirmationToken: preview.confirmationToken,
                                                        filter: .init(tags: ["vip"]))
            }
            // A conversation that starts matching after the preview stays.
            try await Self.tag(database, f, ids[9...9], "spanish")
            let result = try await f.assignments.unassignAll(campaignID: f.campaign.id, from: "kevin", status: .any,
                                                             actor: "tester", confirmationToken: preview.confirmationToken,
                                                             filter: filter)
            #expect(result.moved == 3 && result.noLongerMatching == 0)
            #expect(try await f.count(of: "kevin") == 7)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("tag add and remove over a filter, in one statement; counts only what changed")
    func bulkTags() async throws {
        try await TestDatabase.with { database in
            let (f, ids) = try await Self.world(database)
            let routing = RoutingService(database)
            // The one whose last message is under two days old gets "south" (the tag is lower-cased).
            #expect(try await routing.changeTags(campaignID: f.campaign.id, tags: ["South"], add: true,
                                                 filter: .init(lastMessageAfter: try When(parsing: "2d", field: "after"))) == 1)
            #expect(try await routing.tags(conversationID: ids[5]) == ["south"])
            // Adding again changes nothing; every vip without spanish loses vip.
            #expect(try await routing.changeTags(campaignID: f.campaign.id, tags: ["south"], add: true,
                                                 filter: .init(conversationIDs: [ids[5]])) == 0)
            #expect(try await routing.changeTags(campaignID: f.campaign.id, tags: ["vip"], add: false,
                                                 filter: .init(withoutTags: ["spanish"])) == 2)
            let vip = try await ConversationService(database).list(campaignID: f.campaign.id, filter: .init(tags: ["vip"]))
            #expect(vip.conversations.map(\.id) == [ids[2], ids[3]])
            await expectCode("invalid_tag") {
                _ = try await routing.changeTags(campaignID: f.campaign.id, tags: ["no spaces"], add: true)
            }
        }
    }

    @Test("bad input names the value and changes nothing")
    func badInput() async throws {
        try await TestDatabase.with { database in
            let (f, _) = try await Self.world(database)
            let other = try await CampaignService(database).create(orgID: f.org.id, name: "Other")
            try await Fixture.importContacts(database, campaignID: other.id, count: 1, offset: 100)
            let foreign = try await database.query("SELECT id FROM conversations WHERE campaign_id = \(other.id)")[0]
                .decode(Int64.self)
            await expectCode("invalid_time", containing: "yesterday") {
                _ = try When(parsing: "yesterday", field: "--last-message-before")
            }
            await expectCode("invalid_age") { _ = try When(parsing: "0d", field: "--last-message-after") }
            await expectCode("invalid_tag") { _ = try await f.assignments.reassignAll(filtered(f, .init(tags: [""]))) }
            await expectCode("invalid_field_filter") {
                _ = try await f.assignments.reassignAll(filtered(f, .init(fields: ["": "Kent"])))
            }
            await expectCode("invalid_text") {
                _ = try await f.assignments.reassignAll(filtered(f, .init(search: "a\u{0}b")))
            }
            await expectCode("unknown_conversation", containing: String(foreign)) {
                _ = try await f.assignments.reassignAll(filtered(f, .init(conversationIDs: [foreign])))
            }
            await expectCode("unknown_conversation") {
                _ = try await f.assignments.previewUnassignAll(campaignID: f.campaign.id, from: nil, status: .any,
                                                               actor: "tester", filter: .init(conversationIDs: [foreign]))
            }
            #expect(try await f.count(of: nil) == 10)
            #expect(try await database.query("SELECT count(*) FROM assignment_batches")[0].decode(Int.self) == 0)
        }
    }
}

extension AssignmentService.BulkRequest {
    func dry() -> Self {
        var request = self
        request.dryRun = true
        return request
    }
}
