import SwitchboardCore

extension Database {
    /// Refuses (403) a texter who is not a sender of `campaignID`; managers pass. `refusal` names what was refused.
    func requireSender(_ user: User, of campaignID: Int64, refusal: String) async throws {
        guard !user.role.canManage else { return }
        let rows = try await query("""
            SELECT 1 FROM campaign_senders WHERE campaign_id = \(campaignID) AND user_id = \(user.id)
            """)
        guard !rows.isEmpty else { throw SwitchboardError(.forbidden, "forbidden", refusal) }
    }
}
