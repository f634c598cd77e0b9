import Foundation
import PostgresNIO

extension AssignmentService {
    /// Reverses an earlier batch as a new batch, for the conversations whose assignee is still what that batch
    /// set (and whose previous sender is still active); the others are reported as `skipped`.
    /// A batch can be undone once.
    public func undo(batchID: Int64, actor: String, dryRun: Bool = false, note: String? = nil,
                     orgID: Int64? = nil) async throws -> BatchResult {
        try await Telemetry.batch(.undo, campaignID: nil, actor: actor, logger: database.logger) {
            try await applyUndo(batchID: batchID, actor: actor, dryRun: dryRun, note: note, orgID: orgID)
        }
    }

    private func applyUndo(batchID: Int64, actor: String, dryRun: Bool, note: String?, orgID: Int64?) async throws
        -> BatchResult
    {
        try Self.validate(actor: actor)
        let note = try Self.validate(note: note)
        let campaignID = try await HistoryService(database).batch(id: batchID, orgID: orgID).campaignID
        do {
            return try await database.transaction(.repeatableRead, campaign: campaignID) { connection in
                try await Self.sizeForBulk(on: connection, logger: logger)
                // Checked inside the transaction, so that a retry after a concurrent undo sees it.
                let rows = try await connection.rows(
                    "SELECT \(unescaped: HistoryService.batchColumns) FROM assignment_batches b WHERE b.id = \(batchID)",
                    logger: logger)
                let batch = try HistoryService.batch(from: rows[0])
                if let undoneBy = batch.undoneBy {
                    throw SwitchboardError.conflict("already_undone", "Batch \(batchID) was already undone by batch \(undoneBy).")
                }
                let newBatch = dryRun ? nil : try await nextBatchID(on: connection)
                let outcome = try await reverse(batch: batch, into: newBatch, on: connection)
                let recorded = try await recordIfMoved(newBatch, campaignID: batch.campaignID, kind: .undo, actor: actor,
                                                       statusFilter: .any, parameters: ["batch": String(batchID)],
                                                       outcome: outcome.move, undoes: batchID, note: note,
                                                       on: connection)
                var result = BatchResult(batchID: recorded, operation: .undo, campaignID: batch.campaignID,
                                         statusFilter: "any", matched: outcome.move.matched, moved: outcome.move.moved,
                                         unchanged: 0, dryRun: dryRun, perSender: outcome.receipts,
                                         skipped: outcome.move.matched - outcome.move.moved)
                result.removedBySender = Self.removed(outcome.move)
                return result
            }
        } catch let error as SwitchboardError {
            throw error
        } catch where error.sqlState == "23505" && error.constraintName == "assignment_batches_undone_once" {
            throw SwitchboardError.conflict("already_undone", "Batch \(batchID) was already undone.")
        }
    }

    private func reverse(batch: HistoryService.Batch, into newBatch: Int64?, on connection: PostgresConnection) async throws
        -> (move: MoveOutcome, receipts: [SenderReceipt])
    {
        var statement = SQLStatement()
        let campaign = statement.bind(batch.campaignID)
        statement.append("""
            WITH changes AS (
                SELECT conversation_id, from_assignee_id, to_assignee_id FROM assignment_changes
                WHERE campaign_id = \(campaign) AND batch_id = \(statement.bind(batch.id))
            ),
            plan AS (
                SELECT c.id, c.assignee_id AS from_id, ch.from_assignee_id AS to_id
                FROM changes ch JOIN conversations c ON c.campaign_id = \(campaign) AND c.id = ch.conversation_id
                WHERE c.assignee_id IS NOT DISTINCT FROM ch.to_assignee_id
                  AND (ch.from_assignee_id IS NULL OR EXISTS (
                      SELECT 1 FROM campaign_senders s
                      WHERE s.campaign_id = \(campaign) AND s.user_id = ch.from_assignee_id AND s.active))
            ),

            """)
        if let newBatch {
            statement.append("""
                moved AS (
                    UPDATE conversations c SET assignee_id = p.to_id, updated_at = now()
                    FROM plan p WHERE c.campaign_id = \(campaign) AND c.id = p.id
                    RETURNING c.id, p.from_id, p.to_id, c.status
                ),
                history AS (
                \(HistoryService.recordMoves(from: "moved", campaign: campaign, batch: statement.bind(newBatch)))
                ),

                """)
        } else {
            statement.append("moved AS (SELECT id, from_id, to_id, NULL AS status FROM plan),\n")
        }
        let outcome = try await outcome(of: &statement, matched: "(SELECT count(*) FROM changes)",
                                        countsCampaign: newBatch == nil ? nil : campaign, on: connection)
        let receipts = outcome.tallies.filter { $0.received > 0 }
            .map { SenderReceipt(handle: $0.handle, received: $0.received) }
        return (outcome, receipts)
    }
}
