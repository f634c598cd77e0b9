import Foundation
import PostgresNIO

/// A campaign's report (wave 3): per sender, what they hold, what they sent, how many contact replies they answered
/// and how fast (median first response), and their oldest Needs Reply; and the campaign's Needs Reply ages.
public struct ReportService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public struct Report: Sendable, Equatable, Codable {
        public let campaignID: Int64
        public let senders: [Sender]
        public let needsReplyAge: [ReplyTimers.Bucket]

        enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", senders, needsReplyAge = "needs_reply_age" }
    }

    public struct Sender: Sendable, Equatable, Codable {
        public let handle: String
        /// Conversations assigned to the sender now, in any status.
        public let held: Int
        /// Messages the sender sent in this campaign.
        public let sent: Int
        /// Contact replies the sender answered: their messages that came after one or more from the contact.
        public let repliesHandled: Int
        /// The median time from a contact's first unanswered message to the sender's answer, in whole seconds.
        public let medianFirstResponseSeconds: Int?
        public let oldestNeedsReplySeconds: Int?

        enum CodingKeys: String, CodingKey {
            case handle, held, sent, repliesHandled = "replies_handled",
                 medianFirstResponseSeconds = "median_first_response_s", oldestNeedsReplySeconds = "oldest_needs_reply_s"
        }

        /// Absent figures are written as null, as the spec says.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(handle, forKey: .handle)
            try container.encode(held, forKey: .held)
            try container.encode(sent, forKey: .sent)
            try container.encode(repliesHandled, forKey: .repliesHandled)
            try container.encode(medianFirstResponseSeconds, forKey: .medianFirstResponseSeconds)
            try container.encode(oldestNeedsReplySeconds, forKey: .oldestNeedsReplySeconds)
        }
    }

    /// The report, from the messages (in primary-key order, one pass), the kept counts and the reply-timer index.
    public func report(campaignID: Int64, orgID: Int64? = nil) async throws -> Report {
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        let list = try await SenderService(database).list(campaignID: campaign.id)
        // A contact's messages since the sender's last one form a run: they share `run`, the number of the sender's
        // messages before them, with the sender's next message, which answers the run, timed from the run's first
        // message. One scan in primary-key order; the second window only regroups rows already in order.
        let rows = try await database.query("""
            SELECT u.handle, coalesce(a.sent, 0)::bigint, coalesce(a.handled, 0)::bigint, a.median
            FROM campaign_senders cs JOIN users u ON u.id = cs.user_id
            LEFT JOIN (
                SELECT sender_id, count(*) AS sent, count(first_in) AS handled,
                       floor(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - first_in)))::bigint
                           AS median
                FROM (
                    SELECT direction, sender_id, created_at,
                           min(created_at) FILTER (WHERE direction = 'inbound')
                               OVER (PARTITION BY conversation_id, run) AS first_in
                    FROM (
                        SELECT conversation_id, direction, sender_id, created_at,
                               count(*) FILTER (WHERE direction = 'outbound')
                                   OVER (PARTITION BY conversation_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                                   AS run
                        FROM messages WHERE campaign_id = \(campaign.id)
                    ) numbered
                ) timed
                WHERE direction = 'outbound' GROUP BY sender_id
            ) a ON a.sender_id = cs.user_id
            WHERE cs.campaign_id = \(campaign.id)
            """)
        var figures: [String: (sent: Int, handled: Int, median: Int?)] = [:]
        for row in rows {
            let (handle, sent, handled, median) = try row.decode((String, Int64, Int64, Int64?).self)
            figures[handle] = (Int(sent), Int(handled), median.map { Int(max(0, $0)) })
        }
        let senders = list.senders.map { sender in
            let figure = figures[sender.handle] ?? (0, 0, nil)
            return Sender(handle: sender.handle, held: sender.counts.total, sent: figure.sent,
                          repliesHandled: figure.handled, medianFirstResponseSeconds: figure.median,
                          oldestNeedsReplySeconds: sender.oldestNeedsReplySeconds)
        }
        return Report(campaignID: campaign.id, senders: senders,
                      needsReplyAge: try await ReplyTimers(database).needsReplyAges(campaignID: campaign.id))
    }
}
