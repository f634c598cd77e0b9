import Foundation
import SwitchboardCore

/// Routing must not make receiving a message slow (issue 19): inbound replies on unassigned conversations from
/// 20 concurrent writers, once with the campaign's policy `manual` (the reply waits in Unassigned) and once with
/// `least_loaded` (each reply is routed to a sender in the message's own transaction), on campaigns of the same
/// size; and whether least loaded left the ten available senders exactly even.
extension Benchmark {
    public struct RoutingRow: Sendable, Encodable {
        public let policy: String
        public let replies: Int
        public let writers: Int
        public let seconds: Double
        public let perSecond: Double
        public let p50: Double
        public let p99: Double
        /// Open conversations of the most and the least loaded available sender afterwards.
        public let maxLoad: Int
        public let minLoad: Int
        /// Conversations routed more than once (must be 0).
        public let routedTwice: Int
    }

    static let routingWriters = Int(ProcessInfo.processInfo.environment["BENCH_ROUTING_WRITERS"] ?? "20") ?? 20
    static let routingSenders = 10

    func routing(org: Organization) async throws -> [RoutingRow] {
        let replies = options.conversations / 10
        var rows: [RoutingRow] = []
        for policy in [RoutingPolicy.manual, .leastLoaded] {
            let campaign = try await loadCampaign(org: org, name: "bench-routing-\(policy.rawValue)", conversations: replies)
            // Ten available senders, as in the fairness claim; the others are away.
            try await database.query("""
                UPDATE campaign_senders s SET available = u.handle <= (
                    SELECT handle FROM users WHERE org_id = \(org.id) AND handle LIKE 'texter%'
                    ORDER BY handle LIMIT 1 OFFSET \(Self.routingSenders - 1))
                FROM users u WHERE u.id = s.user_id AND s.campaign_id = \(campaign.id)
                """)
            _ = try await CampaignService(database).updateRouting(id: campaign.id, policy: policy)
            try await database.query("VACUUM ANALYZE conversations")
            log("\(replies) inbound replies from \(Self.routingWriters) writers, policy \(policy.rawValue)…")
            let messages = MessageService(database)
            let started = ContinuousClock.now
            let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
                for writer in 0..<Self.routingWriters {
                    group.addTask {
                        var samples: [Double] = []
                        for index in stride(from: writer + 1, through: replies, by: Self.routingWriters) {
                            let phone = "+1\(2_000_000_000 + index)"
                            samples.append(try await time {
                                _ = try await messages.record(.phone(campaignID: campaign.id, phone: phone),
                                                              direction: .inbound, body: "Yes, count me in")
                            } * 1000)
                        }
                        return samples
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let seconds = (ContinuousClock.now - started).seconds
            let loads = try await database.query("""
                SELECT coalesce(max(n), 0)::int, coalesce(min(n), 0)::int FROM (
                    SELECT s.user_id, count(c.id) AS n FROM campaign_senders s
                    LEFT JOIN conversations c ON c.campaign_id = s.campaign_id AND c.assignee_id = s.user_id
                    WHERE s.campaign_id = \(campaign.id) AND s.available GROUP BY s.user_id
                ) l
                """)[0].decode((Int, Int).self)
            let twice = try await database.query("""
                SELECT count(*)::int FROM (
                    SELECT ch.conversation_id FROM assignment_changes ch
                    JOIN assignment_batches b ON b.id = ch.batch_id
                    WHERE b.campaign_id = \(campaign.id) AND b.kind = 'route'
                    GROUP BY ch.conversation_id HAVING count(*) > 1
                ) t
                """)[0].decode(Int.self)
            let latency = Self.latency("inbound_\(policy.rawValue)", samples)
            rows.append(RoutingRow(policy: policy.rawValue, replies: replies, writers: Self.routingWriters,
                                   seconds: seconds, perSecond: Double(replies) / seconds, p50: latency.p50,
                                   p99: latency.p99, maxLoad: loads.0, minLoad: loads.1, routedTwice: twice))
            log(String(format: "  %@: %.0f replies/s, p50 %.2f ms, p99 %.2f ms, loads %d–%d", policy.rawValue,
                       rows.last!.perSecond, latency.p50, latency.p99, loads.1, loads.0))
        }
        return rows
    }
}
