import Foundation
@testable import SwitchboardCore

extension Fixture {
    public var assignments: AssignmentService { AssignmentService(database) }

    /// Handle (or nil) of each conversation, oldest first.
    public func assignees() async throws -> [String?] {
        let rows = try await database.query("""
            SELECT u.handle FROM conversations c LEFT JOIN users u ON u.id = c.assignee_id
            WHERE c.campaign_id = \(campaign.id) ORDER BY c.created_at, c.id
            """)
        return try rows.map { try $0.decode(String?.self) }
    }

    public func count(of handle: String?) async throws -> Int {
        try await assignees().filter { $0 == handle }.count
    }

    public func conversationIDs() async throws -> [Int64] {
        try await database.query("SELECT id FROM conversations WHERE campaign_id = \(campaign.id) ORDER BY created_at, id")
            .map { try $0.decode(Int64.self) }
    }

    public func request(_ source: Source, _ target: Target, status: StatusFilter = .any, count: Int? = nil,
                 distribution: Distribution = .even, dryRun: Bool = false) -> AssignmentService.BulkRequest {
        .init(campaignID: campaign.id, source: source, status: status, target: target, count: count,
              distribution: distribution, actor: "tester", dryRun: dryRun)
    }

    /// Replaying every history row in the order batches took effect gives each conversation's current assignee.
    public func historyReplays() async throws -> Bool {
        let rows = try await database.query("""
            WITH last AS (
                SELECT DISTINCT ON (conversation_id) conversation_id, to_assignee_id
                FROM assignment_changes ch JOIN assignment_batches b ON b.id = ch.batch_id
                WHERE ch.campaign_id = \(campaign.id)
                ORDER BY conversation_id, b.effect_seq DESC
            )
            SELECT count(*) FROM conversations c LEFT JOIN last l ON l.conversation_id = c.id
            WHERE c.campaign_id = \(campaign.id) AND c.assignee_id IS DISTINCT FROM l.to_assignee_id
            """)
        let chained = try await database.query("""
            SELECT count(*) FROM (
                SELECT from_assignee_id, lag(to_assignee_id) OVER w AS previous, row_number() OVER w AS n
                FROM assignment_changes ch JOIN assignment_batches b ON b.id = ch.batch_id
                WHERE ch.campaign_id = \(campaign.id)
                WINDOW w AS (PARTITION BY conversation_id ORDER BY b.effect_seq)
            ) steps WHERE (n = 1 AND from_assignee_id IS NOT NULL) OR (n > 1 AND from_assignee_id IS DISTINCT FROM previous)
            """)
        let mismatched = try rows[0].decode(Int.self)
        let broken = try chained[0].decode(Int.self)
        return mismatched == 0 && broken == 0
    }

    /// Every batch's `moved` equals its history rows.
    public func batchesAreWhole() async throws -> Bool {
        let rows = try await database.query("""
            SELECT count(*) FROM assignment_batches b
            WHERE b.campaign_id = \(campaign.id)
              AND b.moved <> (SELECT count(*) FROM assignment_changes ch WHERE ch.campaign_id = b.campaign_id AND ch.batch_id = b.id)
            """)
        return try rows[0].decode(Int.self) == 0
    }
}
