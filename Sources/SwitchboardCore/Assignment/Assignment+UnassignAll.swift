import Crypto
import Foundation
import PostgresNIO

extension AssignmentService {
    /// What Unassign All would do, and the token that lets it run.
    public struct UnassignPreview: Sendable, Equatable {
        public let count: Int
        /// Single use, bound to campaign, sender, status filter and actor.
        public let confirmationToken: String
        public let expiresAt: Date
    }

    public static let confirmationLifetime: TimeInterval = 10 * 60

    /// Counts what Unassign All would take from `handle` (every sender when nil: Bulk Unassign All) and issues a
    /// confirmation token for it.
    /// The confirmation also binds the set: the conversations counted are stored under the token, and the run
    /// takes only those that still match.
    public func previewUnassignAll(campaignID: Int64, from handle: String?, status: StatusFilter, actor: String,
                                   filter: ConversationFilter = .init(), orgID: Int64? = nil) async throws -> UnassignPreview {
        try Self.validate(actor: actor)
        let filter = try filter.validated()
        let campaign = try await campaign(campaignID, orgID: orgID)
        return try await database.transaction(.repeatableRead) { connection in
            var (selection, senderID) = try await unassignSelection(handle, status: status, campaign: campaign,
                                                                    on: connection)
            try await filter.checkPicked(campaignID: campaign.id, on: connection, logger: logger)
            selection.filter = filter
            let count = try await count(selection, on: connection)
            let token = "uc_" + (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let binding = Self.unassignBinding(filter)
            let rows = try await connection.rows("""
                INSERT INTO confirmation_tokens (token_hash, campaign_id, sender_id, status_filter, actor, expires_at, binding)
                VALUES (\(Directory.hash(token)), \(campaign.id), \(senderID), \(status.name), \(actor),
                        now() + make_interval(secs => \(Self.confirmationLifetime)), \(binding))
                RETURNING expires_at
                """, logger: logger)
            _ = try await issuePreview(selection, binding: binding, actor: actor, token: token, on: connection)
            return UnassignPreview(count: count, confirmationToken: token, expiresAt: try rows[0].decode(Date.self))
        }
    }

    static func unassignBinding(_ filter: ConversationFilter) -> String {
        binding(["operation": BatchKind.unassignAll.rawValue], filter: filter)
    }

    /// Every conversation of `handle` (of every sender when nil) matching the filter → unassigned. Runs only with
    /// a valid confirmation token from `previewUnassignAll` (a dry run needs none); the token is used up only if
    /// the batch commits.
    public func unassignAll(campaignID: Int64, from handle: String?, status: StatusFilter, actor: String,
                            confirmationToken: String?, dryRun: Bool = false, note: String? = nil,
                            filter: ConversationFilter = .init(), previewToken: String? = nil,
                            orgID: Int64? = nil) async throws -> BatchResult {
        try await Telemetry.batch(.unassignAll, campaignID: campaignID, actor: actor, logger: database.logger) {
            try await applyUnassignAll(campaignID: campaignID, from: handle, status: status, actor: actor,
                                       confirmationToken: confirmationToken, dryRun: dryRun, note: note,
                                       filter: filter, previewToken: previewToken, orgID: orgID)
        }
    }

    private func applyUnassignAll(campaignID: Int64, from handle: String?, status: StatusFilter, actor: String,
                                  confirmationToken: String?, dryRun: Bool, note: String?, filter: ConversationFilter,
                                  previewToken: String?, orgID: Int64?) async throws -> BatchResult
    {
        try Self.validate(actor: actor)
        let note = try Self.validate(note: note)
        let filter = try filter.validated()
        let campaign = try await campaign(campaignID, orgID: orgID)
        return try await database.transaction(.repeatableRead, campaign: campaign.id) { connection in
            try await Self.sizeForBulk(on: connection, logger: logger)
            var (selection, senderID) = try await unassignSelection(handle, status: status, campaign: campaign,
                                                                    on: connection)
            try await filter.checkPicked(campaignID: campaign.id, on: connection, logger: logger)
            selection.filter = filter
            let binding = Self.binding(["operation": BatchKind.unassignAll.rawValue, "source": handle ?? "anyone",
                                        "status": status.name], filter: filter)
            var preview: (hash: ByteBuffer, size: Int)?
            if let previewToken {
                preview = try await checkPreview(previewToken, campaignID: campaign.id, actor: actor, binding: binding,
                                                 on: connection)
                selection.previews.append(preview!.hash)
            }
            if !dryRun {
                try await useConfirmation(confirmationToken, campaignID: campaign.id, senderID: senderID,
                                          status: status, actor: actor, binding: Self.unassignBinding(filter),
                                          on: connection)
                // The confirmation's own preview: what was counted when it was issued.
                if let confirmationToken, preview == nil {
                    let hash = Directory.hash(confirmationToken)
                    if let row = try await connection.rows("""
                        SELECT size FROM preview_sets WHERE campaign_id = \(campaign.id) AND token_hash = \(hash)
                        """, logger: logger).first {
                        preview = (hash, try row.decode(Int.self))
                        selection.previews.append(hash)
                    }
                }
            }
            let batchID = dryRun ? nil : try await nextBatchID(on: connection)
            let outcome = try await move(selection, to: [nil], starts: [0], batchID: batchID, on: connection)
            var parameters = ["source": handle ?? "anyone"]
            if let summary = filter.summary { parameters["filter"] = summary }
            let recorded = try await recordIfMoved(batchID, campaignID: campaign.id, kind: .unassignAll, actor: actor,
                                                   statusFilter: status, parameters: parameters,
                                                   outcome: outcome, note: note, on: connection)
            var result = BatchResult(batchID: recorded, operation: .unassignAll, campaignID: campaign.id,
                                     statusFilter: status.name, matched: outcome.matched, moved: outcome.moved,
                                     unchanged: outcome.matched - outcome.moved, dryRun: dryRun, perSender: [])
            result.removedBySender = Self.removed(outcome)
            try await finishPreview(&result, preview: preview, selection: selection, binding: binding, actor: actor,
                                    on: connection)
            return result
        }
    }

    /// What Unassign All takes, and the sender id its confirmation is bound to (0: every sender).
    private func unassignSelection(_ handle: String?, status: StatusFilter, campaign: Campaign,
                                   on connection: PostgresConnection) async throws -> (Selection, Int64) {
        guard let handle else {
            var selection = Selection(campaignID: campaign.id, source: .anyone, status: status.status)
            selection.assignedOnly = true
            return (selection, 0)
        }
        let sender = try await sender(handle, campaign: campaign, on: connection)
        return (Selection(campaignID: campaign.id, source: .sender(handle), sourceID: sender.id, status: status.status),
                sender.id)
    }

    private func useConfirmation(_ token: String?, campaignID: Int64, senderID: Int64, status: StatusFilter,
                                 actor: String, binding: String, on connection: PostgresConnection) async throws {
        guard let token, !token.isEmpty else {
            throw SwitchboardError.refused("confirmation_required",
                                           "Unassign All needs a confirmation token from its preview.")
        }
        let rows = try await connection.rows("""
            UPDATE confirmation_tokens SET used_at = now()
            WHERE token_hash = \(Directory.hash(token)) AND used_at IS NULL AND expires_at > now()
              AND campaign_id = \(campaignID) AND sender_id = \(senderID) AND status_filter = \(status.name)
              AND actor = \(actor) AND binding = \(binding)
            RETURNING 1
            """, logger: logger)
        guard rows.isEmpty else { return }
        let found = try await connection.rows("""
            SELECT used_at IS NOT NULL, expires_at <= now() FROM confirmation_tokens
            WHERE campaign_id = \(campaignID) AND token_hash = \(Directory.hash(token))
            """, logger: logger)
        let reason: String
        if let row = found.first {
            let (used, expired) = try row.decode((Bool, Bool).self)
            reason = used ? "has already been used" : expired ? "has expired" : "was issued for another sender, status filter, filter or actor"
        } else {
            reason = "is not one that was issued for campaign \(campaignID)"
        }
        throw SwitchboardError.conflict("invalid_confirmation", "The confirmation token \(reason); preview again to get a new one.")
    }
}
