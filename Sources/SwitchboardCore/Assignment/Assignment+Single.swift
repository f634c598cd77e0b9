import Foundation
import PostgresNIO

extension AssignmentService {
    /// One conversation → a sender (`to`), or unassigned (`to` nil). `campaignID`, when given, must be the
    /// conversation's campaign; `orgID` restricts it to an organization.
    public func reassign(conversationID: Int64, to handle: String?, actor: String, dryRun: Bool = false,
                         note: String? = nil, campaignID: Int64? = nil, orgID: Int64? = nil) async throws -> BatchResult {
        try await Telemetry.batch(.reassign, campaignID: campaignID, actor: actor, logger: database.logger) {
            try await applyReassign(conversationID: conversationID, to: handle, actor: actor, dryRun: dryRun,
                                    note: note, campaignID: campaignID, orgID: orgID)
        }
    }

    private func applyReassign(conversationID: Int64, to handle: String?, actor: String, dryRun: Bool, note: String?,
                               campaignID: Int64?, orgID: Int64?) async throws -> BatchResult {
        try Self.validate(actor: actor)
        let note = try Self.validate(note: note)
        let conversation = try await ConversationService(database).conversation(id: conversationID, orgID: orgID)
        if let campaignID, campaignID != conversation.campaignID {
            throw SwitchboardError.notFound("unknown_conversation",
                                            "Conversation \(conversationID) is not in campaign \(campaignID).")
        }
        let campaign = try await campaign(conversation.campaignID, orgID: orgID)
        return try await database.transaction(.repeatableRead) { connection in
            var target: (id: Int64, handle: String)? = nil
            if let handle {
                target = try await resolveTargets(.senders([handle]), campaign: campaign, on: connection)[0]
            }
            let selection = Selection(campaignID: campaign.id, source: .anyone, conversationID: conversationID)
            let batchID = dryRun ? nil : try await nextBatchID(on: connection)
            let outcome = try await move(selection, to: [target?.id], starts: [0],
                                         batchID: batchID, on: connection)
            let recorded = try await recordIfMoved(batchID, campaignID: campaign.id, kind: .reassign, actor: actor,
                                                   statusFilter: .any,
                                                   parameters: ["conversation": String(conversationID), "to": handle ?? ""],
                                                   outcome: outcome, note: note, on: connection)
            var result = BatchResult(batchID: recorded, operation: .reassign, campaignID: campaign.id, statusFilter: "any",
                                     matched: outcome.matched, moved: outcome.moved,
                                     unchanged: outcome.matched - outcome.moved, dryRun: dryRun,
                                     perSender: target.map { [SenderReceipt(handle: $0.handle, received: outcome.moved)] } ?? [])
            result.removedBySender = Self.removed(outcome)
            return result
        }
    }
}
