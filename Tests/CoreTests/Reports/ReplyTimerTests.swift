import Foundation
import PostgresNIO
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Reply timers")
struct ReplyTimerTests {
    @Test("each sender's oldest Needs Reply and the campaign's Needs Reply ages, against hand-set reply times")
    func timers() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca"], conversations: 6)
            let ids = try await f.conversationIDs()
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 3))
            // Replies waited 30 minutes, 2 hours and 30 hours on kevin's three; 7 hours on an unassigned one.
            for (id, age) in [(ids[0], "30 minutes"), (ids[1], "2 hours"), (ids[2], "30 hours"), (ids[3], "7 hours")] {
                try await database.query("""
                    UPDATE conversations SET status = 'needs_reply', last_message_at = now() - \(age)::interval
                    WHERE campaign_id = \(f.campaign.id) AND id = \(id)
                    """)
            }
            let list = try await SenderService(database).list(campaignID: f.campaign.id)
            let kevin = try #require(list.senders.first { $0.handle == "kevin" })
            let oldest = try #require(kevin.oldestNeedsReplySeconds)
            #expect((30 * 3600)...(30 * 3600 + 60) ~= oldest, "\(oldest)")
            #expect(list.senders.first { $0.handle == "rebecca" }?.oldestNeedsReplySeconds == nil)
            let ages = try await ReplyTimers(database).needsReplyAges(campaignID: f.campaign.id)
            #expect(ages == [.init(bucket: "<1h", count: 1), .init(bucket: "1-6h", count: 1),
                             .init(bucket: "6-24h", count: 1), .init(bucket: ">24h", count: 1)])
            #expect(ReplyTimers.words(oldest) == "1d 6h")
            #expect(ReplyTimers.words(2 * 3600 + 5 * 60) == "2h 5m")
        }
    }
}

@Suite("Reports")
struct ReportTests {
    @Test("the report against hand-computed figures: sent, replies handled, median first response, held, oldest")
    func report() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca"], conversations: 4)
            let ids = try await f.conversationIDs()
            _ = try await f.assignments.reassign(conversationID: ids[0], to: "kevin", actor: "t")
            _ = try await f.assignments.reassign(conversationID: ids[1], to: "kevin", actor: "t")
            _ = try await f.assignments.reassign(conversationID: ids[2], to: "rebecca", actor: "t")
            let kevin = try await Directory(database).user(orgID: f.org.id, handle: "kevin").id
            let rebecca = try await Directory(database).user(orgID: f.org.id, handle: "rebecca").id
            // Seconds after a base time two days ago: (conversation, direction, sender, at).
            let script: [(Int64, String, Int64?, Int)] = [
                (ids[0], "outbound", kevin, 0), (ids[0], "inbound", nil, 600), (ids[0], "inbound", nil, 720),
                (ids[0], "outbound", kevin, 2400),          // answers the run that began at 600: 1,800 s
                (ids[0], "inbound", nil, 3000), (ids[0], "outbound", kevin, 3300),   // 300 s
                (ids[1], "inbound", nil, 0), (ids[1], "outbound", kevin, 100),       // the contact first: 100 s
                (ids[2], "outbound", rebecca, 0),
            ]
            for (conversation, direction, sender, at) in script {
                try await database.query("""
                    INSERT INTO messages (campaign_id, conversation_id, direction, body, sender_id, created_at)
                    VALUES (\(f.campaign.id), \(conversation), \(direction), 'x', \(sender),
                            now() - interval '2 days' + \(at) * interval '1 second')
                    """)
            }
            let report = try await ReportService(database).report(campaignID: f.campaign.id)
            #expect(report.senders == [
                .init(handle: "kevin", held: 2, sent: 4, repliesHandled: 3, medianFirstResponseSeconds: 300,
                      oldestNeedsReplySeconds: nil),
                .init(handle: "rebecca", held: 1, sent: 1, repliesHandled: 0, medianFirstResponseSeconds: nil,
                      oldestNeedsReplySeconds: nil),
            ])
            #expect(report.needsReplyAge.map(\.count) == [0, 0, 0, 0])
        }
    }
}
