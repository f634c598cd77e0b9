import Foundation

/// Who may see and act on what: the one home of these rules, asked by the API and the console alike, so that a
/// texter gets the same answer through a token as through a page.
///
/// - Another organization's campaign or conversation does not exist for the caller (404).
/// - Admins and organizers see and act on everything of their organization.
/// - A texter sees the campaigns they are an active sender of (else 403 `not_a_sender`); of a campaign's
///   conversations, their own and the unassigned ones; replies to those (replying to an unassigned one claims it);
///   closes only their own. Anything else is 403 `not_your_conversation`.
public struct Access: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    /// What is asked of a conversation.
    public enum Action: Sendable, Equatable {
        /// Open it: its thread, its tags, marking it read.
        case read
        /// Record an outbound message (on an unassigned conversation this claims it, unless left unassigned).
        case reply
        /// Close it.
        case close
    }

    /// Refuses (403 `not_a_sender`) a texter who is not an active sender of `campaignID`; managers pass.
    public func requireSender(_ user: User, of campaignID: Int64, refusal: String? = nil) async throws {
        guard !user.role.canManage else { return }
        guard try await SenderService(database).isActiveSender(campaignID: campaignID, userID: user.id) else {
            throw SwitchboardError(.forbidden, "not_a_sender",
                                   refusal ?? "You are not an active sender of campaign \(campaignID).")
        }
    }

    /// The campaign `id` if `user` may see it: of their organization (404 otherwise), and for a texter one they
    /// send for.
    public func campaign(_ id: Int64, for user: User) async throws -> Campaign {
        let campaign = try await CampaignService(database).campaign(id: id, orgID: user.orgID)
        try await requireSender(user, of: campaign.id)
        return campaign
    }

    /// The conversation `id` if `user` may do `action` with it (see the type's rules).
    public func conversation(_ id: Int64, for user: User, to action: Action) async throws -> Conversation {
        let conversation = try await ConversationService(database).conversation(id: id, orgID: user.orgID)
        try await requireSender(user, of: conversation.campaignID,
                                refusal: "You are not an active sender of this conversation's campaign.")
        try Self.check(action, on: conversation, by: user)
        return conversation
    }

    /// The rule alone, for a conversation already read and a sender already checked.
    public static func check(_ action: Action, on conversation: Conversation, by user: User) throws(SwitchboardError) {
        try check(action, conversationID: conversation.id, assigned: conversation.assignee.map { $0 == user.handle },
                  by: user)
    }

    /// The rule on a conversation's row as a transaction holds it locked (`assigned`: nil when unassigned, else
    /// whether it is the user's), so that a conversation reassigned meanwhile is judged as it is now.
    static func check(_ action: Action, conversationID: Int64, assigneeID: Int64?, by user: User) throws(SwitchboardError) {
        try check(action, conversationID: conversationID, assigned: assigneeID.map { $0 == user.id }, by: user)
    }

    private static func check(_ action: Action, conversationID: Int64, assigned mine: Bool?, by user: User)
        throws(SwitchboardError)
    {
        guard !user.role.canManage, mine != true else { return }
        if mine == nil {
            guard action == .close else { return }
            throw SwitchboardError(.forbidden, "not_your_conversation",
                                   "Conversation \(conversationID) is unassigned; reply to it to make it yours before closing it.")
        }
        throw SwitchboardError(.forbidden, "not_your_conversation",
                               "Conversation \(conversationID) is assigned to another sender.")
    }

    /// Whether `user` may do `action` with `conversation` (a page deciding which buttons to show).
    public static func allows(_ action: Action, on conversation: Conversation, by user: User) -> Bool {
        (try? check(action, on: conversation, by: user)) != nil
    }

    /// Which of a campaign's conversations a listing may show `user`: managers whatever they asked; a texter their
    /// own and the unassigned ones, or either alone when asked; another sender's is refused.
    public static func listing(_ asked: ConversationService.AssigneeFilter, for user: User) throws(SwitchboardError)
        -> ConversationService.AssigneeFilter
    {
        guard !user.role.canManage else { return asked }
        switch asked {
        case .anyone, .mineOrUnassigned: return .mineOrUnassigned(user.id)
        case .unassigned: return .unassigned
        case .sender(let handle) where handle == user.handle: return .sender(handle)
        case .sender(let handle):
            throw SwitchboardError(.forbidden, "not_your_conversation",
                                   "The conversations of '\(handle)' are not yours to list; ask for your own or the unassigned ones.")
        }
    }
}
