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
