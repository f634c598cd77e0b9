import Foundation
import PostgresNIO

extension ConversationService {
    /// How many conversations were given to the sender by others (batches, routing, approvals: not their own
    /// requests or claims) since they last opened their queue of the campaign, and marks the campaign seen up to its
    /// latest batch. The first visit counts nothing.
    public func newSinceLastVisit(campaignID: Int64, userID: Int64) async throws -> Int {
        try await database.transaction { connection in
            let rows = try await connection.rows("""
                WITH seen AS (
                    SELECT s.seen_batch_id FROM campaign_senders s
                    WHERE s.campaign_id = \(campaignID) AND s.user_id = \(userID)
                ),
                latest AS (
                    SELECT max(b.id) AS id FROM assignment_batches b WHERE b.campaign_id = \(campaignID)
                ),
                marked AS (
                    UPDATE campaign_senders s SET seen_batch_id = coalesce((SELECT id FROM latest), s.seen_batch_id, 0)
                    WHERE s.campaign_id = \(campaignID) AND s.user_id = \(userID)
                )
                SELECT coalesce(sum(cardinality(m.conversation_ids)), 0)::bigint
                FROM seen, assignment_batches b
                JOIN assignment_moves m ON m.campaign_id = b.campaign_id AND m.batch_id = b.id
                WHERE seen.seen_batch_id IS NOT NULL AND b.campaign_id = \(campaignID) AND b.id > seen.seen_batch_id
                  AND b.kind NOT IN ('self_assign', 'claim') AND m.to_assignee_id = \(userID)
                """, logger: database.logger)
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        }
    }
}
