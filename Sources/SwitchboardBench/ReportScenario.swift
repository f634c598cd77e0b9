import Foundation
import SwitchboardCore

/// The campaign report (issue 38) on the loaded campaign once it has a texting history: everything dealt over the
/// senders, the initial message sent on every conversation, a third replied to, and half of those answered; a
/// tenth left Needing a Reply at ages up to two days. Timed as the console and `report` call it.
extension Benchmark {
    func reportScenario(campaign: Campaign, into report: inout Report) async throws {
        log("Report: dealing everything, writing a texting history (initial messages, replies, answers)…")
        _ = try await AssignmentService(database).reassignAll(.init(campaignID: campaign.id, source: .anyone,
                                                                    target: .allActive, actor: "bench"))
        // The history is written as a finished one would be; the triggers that route live replies stay out of it.
        try await database.transaction { connection in
            try await connection.query("SET LOCAL session_replication_role = replica", logger: logger)
            try await connection.query("""
                INSERT INTO messages (campaign_id, conversation_id, direction, body, sender_id, created_at)
                SELECT c.campaign_id, c.id, d.direction, 'bench', CASE WHEN d.direction = 'outbound' THEN c.assignee_id END,
                       now() - interval '3 days' + d.at
                FROM conversations c
                CROSS JOIN LATERAL (VALUES ('outbound', interval '0'), ('inbound', interval '2 hours'),
                                           ('outbound', interval '2 hours 7 minutes')) AS d(direction, at)
                WHERE c.campaign_id = \(campaign.id)
                  AND (d.direction = 'outbound' AND d.at = interval '0' OR c.id % 3 = 0 AND d.direction = 'inbound'
                       OR c.id % 6 = 0 AND d.at = interval '2 hours 7 minutes')
                """, logger: logger)
            try await connection.query("""
                UPDATE conversations SET status = 'needs_reply', last_message_at = now() - make_interval(secs => id % 172800)
                WHERE campaign_id = \(campaign.id) AND id % 10 = 3
                """, logger: logger)
        }
        try await database.query("VACUUM ANALYZE messages")
        try await database.query("VACUUM ANALYZE conversations")
        let messages = try await database.query("SELECT count(*) FROM messages WHERE campaign_id = \(campaign.id)")[0]
            .decode(Int.self)
        let service = ReportService(database)
        var samples: [Double] = []
        for run in 0..<max(3, options.runs) {
            samples.append(try await time { _ = try await service.report(campaignID: campaign.id) })
            log("  report \(run + 1): \(String(format: "%.2f", samples[run])) s over \(messages) messages")
        }
        report.timings.append(Timing(name: "campaign_report", median: median(samples), runs: samples))
        report.ratios["report_messages"] = Double(messages)
    }
}
