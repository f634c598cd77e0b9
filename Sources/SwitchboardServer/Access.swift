import SwitchboardCore

extension Database {
    /// Refuses (403 `not_a_sender`) a texter who is not an active sender of `campaignID`; managers pass.
    /// `refusal` names what was refused.
    func requireSender(_ user: User, of campaignID: Int64, refusal: String) async throws {
        guard !user.role.canManage else { return }
        guard try await SenderService(self).isActiveSender(campaignID: campaignID, userID: user.id) else {
            throw SwitchboardError(.forbidden, "not_a_sender", refusal)
        }
    }
}
