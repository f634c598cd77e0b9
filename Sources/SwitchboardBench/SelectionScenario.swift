import Foundation
import SwitchboardCore

/// Selection (issue 36) on the loaded campaign: a tenth of the conversations tagged `vip`, half with a last
/// message three days old, everything dealt over the senders first, as a campaign under way is.
extension Benchmark {
    func selection(campaign: Campaign, handles: [String], into report: inout Report) async throws {
        log("Selection: tagging a tenth, dating half the last messages, dealing everything…")
        try await database.query("""
            INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
            SELECT campaign_id, id, 'vip' FROM conversations WHERE campaign_id = \(campaign.id) AND id % 10 = 0
            """)
        try await database.query("""
            UPDATE conversations SET last_message_at = now() - interval '3 days'
            WHERE campaign_id = \(campaign.id) AND id % 4 < 2
            """)
        let assignments = AssignmentService(database)
        _ = try await assignments.reassignAll(.init(campaignID: campaign.id, source: .anyone, target: .allActive,
                                                    actor: "bench"))
        try await database.query("VACUUM ANALYZE conversations")
        try await database.query("ANALYZE conversation_tags")
        // Tagged and quiet for a day: a twentieth of the campaign.
        let filter = ConversationFilter(tags: ["vip"], lastMessageBefore: try When(parsing: "1d", field: "bench"))
        var previews: [Double] = []
        var filtered: [Double] = []
        var unfiltered: [Double] = []
        var matched = 0
        var setKiB = 0.0
        for run in 0..<options.runs {
            let rotated = Array(handles[(run + 1)...] + handles[...run])
            var request = AssignmentService.BulkRequest(campaignID: campaign.id, source: .anyone,
                                                        target: .senders(rotated), actor: "bench", dryRun: true)
            request.filter = filter
            var token: String?
            previews.append(try await time {
                let result = try await assignments.reassignAll(request)
                matched = result.matched
                token = result.previewToken
            })
            setKiB = try await database.query("""
                SELECT pg_column_size(ids) FROM preview_sets WHERE campaign_id = \(campaign.id)
                ORDER BY expires_at DESC LIMIT 1
                """)[0].decode(Int.self).asKiB
            request.dryRun = false
            request.previewToken = token
            try await database.query("CHECKPOINT")
            filtered.append(try await time { _ = try await assignments.reassignAll(request) })
            // The same number of conversations, unfiltered: the oldest of anyone, to the same senders in turn.
            let same = AssignmentService.BulkRequest(campaignID: campaign.id, source: .anyone,
                                                     target: .senders(Array(rotated.reversed())), count: matched,
                                                     actor: "bench")
            try await database.query("CHECKPOINT")
            unfiltered.append(try await time { _ = try await assignments.reassignSome(same) })
            log("  round \(run + 1): preview \(String(format: "%.3f", previews[run])) s of \(matched), filtered run \(String(format: "%.2f", filtered[run])) s, unfiltered \(String(format: "%.2f", unfiltered[run])) s, preview set \(String(format: "%.1f", setKiB)) KiB")
        }
        report.timings.append(Timing(name: "selection_preview_tag_and_age", median: median(previews), runs: previews))
        report.timings.append(Timing(name: "reassign_all_filtered_with_token", median: median(filtered), runs: filtered))
        report.timings.append(Timing(name: "reassign_some_same_count_unfiltered", median: median(unfiltered), runs: unfiltered))
        report.ratios["filtered_over_unfiltered"] = median(zip(filtered, unfiltered).map { $0 / $1 })
        report.ratios["preview_set_kib"] = setKiB
        report.ratios["selection_matched"] = Double(matched)

        // The console's filtered list: one sender's conversations with the tag, a page of 50 and the count.
        let conversations = ConversationService(database)
        var samples: [Double] = []
        for index in 0..<max(20, options.singleReassigns / 100) {
            let sender = handles[index % handles.count]
            samples.append(try await time {
                _ = try await conversations.list(campaignID: campaign.id, assignee: .sender(sender),
                                                 filter: .init(tags: ["vip"]), limit: 50)
                _ = try await conversations.count(campaignID: campaign.id, assignee: .sender(sender),
                                                  filter: .init(tags: ["vip"]))
            } * 1000)
        }
        report.latencies.append(Self.latency("console_filtered_list_page", samples))
    }
}

private extension Int {
    var asKiB: Double { Double(self) / 1024 }
}
