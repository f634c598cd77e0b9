import Crypto
import Foundation
import Hummingbird
import SwitchboardCore

/// The texter's messenger: Assigned to Me with its filters, Request Conversations, Release, a conversation's
/// thread with Reply, Reply and leave unassigned, and Close. Organizers open a sender's messenger with "Viewing
/// as" and can reassign from it, not reply as that sender.
extension Console {
    /// The filters of Assigned to Me, in the order shown; `unassigned` lists the campaign's unowned replies.
    static let queueFilters: [(value: String, label: String)] = [
        ("open", "Open"), ("needs-reply", "Needs Reply"), ("not-started", "Not Started"), ("unread", "Unread"),
        ("closed", "Closed"), ("unassigned", "Unassigned"),
    ]

    static func queueURL(_ campaignID: Int64, filter: String? = nil, viewingAs: String? = nil,
                         extra: [URLQueryItem] = []) -> String {
        var components = URLComponents()
        components.path = "/campaigns/\(campaignID)/queue"
        var items: [URLQueryItem] = []
        if let filter, filter != "open" { items.append(URLQueryItem(name: "filter", value: filter)) }
        if let viewingAs { items.append(URLQueryItem(name: "as", value: viewingAs)) }
        items += extra
        components.queryItems = items.isEmpty ? nil : items
        return components.string ?? components.path
    }

    /// Whose queue a request shows: the signed-in texter's own, or (for an organizer, `as=HANDLE`) a sender's.
    struct QueueOwner {
        let user: User
        let viewingAs: Bool
        let active: Bool
    }

    func queueOwner(_ request: Request, _ campaign: Campaign, _ session: ConsoleAuth.Session) async throws -> QueueOwner {
        if let handle = request.uri.queryParameters.get("as"), !handle.isEmpty {
            guard session.user.role.canManage else {
                throw SwitchboardError(.forbidden, "organizers_only", "Only organizers can view another sender's conversations.")
            }
            try Directory.validate(handle: handle)
            let user = try await Directory(database).user(orgID: campaign.orgID, handle: handle)
            let active = try await SenderService(database).isActiveSender(campaignID: campaign.id, userID: user.id)
            return QueueOwner(user: user, viewingAs: true, active: active)
        }
        let active = try await SenderService(database).isActiveSender(campaignID: campaign.id, userID: session.user.id)
        guard active || session.user.role.canManage else {
            throw SwitchboardError(.forbidden, "not_a_sender",
                                   "You are not an active sender of campaign \(campaign.id); ask its organizer to add you.")
        }
        return QueueOwner(user: session.user, viewingAs: false, active: active)
    }

    func queue(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let owner = try await queueOwner(request, campaign, session)
        let query = request.uri.queryParameters
        let filter = query.get("filter").flatMap { value in Self.queueFilters.contains { $0.value == value } ? value : nil }
            ?? "open"
        let viewingAs = owner.viewingAs ? owner.user.handle : nil
        let conversations = ConversationService(database)
        let counts = try await conversations.queueCounts(userID: owner.user.id, campaignID: campaign.id)
        let page = try await conversations.queue(
            userID: filter == "unassigned" ? nil : owner.user.id, campaignID: campaign.id,
            filter: try ConversationService.QueueFilter(parsing: filter == "unassigned" ? "needs-reply" : filter),
            limit: 50, cursor: query.get("cursor"))
        let count: [String: Int] = ["open": counts.open, "needs-reply": counts.needsReply, "not-started": counts.notStarted,
                                    "unread": counts.unread, "closed": counts.closed]
        let filters = Self.queueFilters.map { choice in
            QueuePage.Filter(label: choice.label, count: count[choice.value].map(String.init),
                             link: Self.queueURL(campaign.id, filter: choice.value, viewingAs: viewingAs),
                             current: choice.value == filter)
        }
        let settings = campaign.settings
        // Whether a request would be granted, and Core's sentence when not: the grant's own rules, asked.
        let refusal = owner.viewingAs ? nil
            : try await SelfAssignService(database).eligibility(campaignID: campaign.id, user: owner.user)
        // Request approval: a request waiting holds the button back; a denial's note is shown once decided.
        let latest = owner.viewingAs ? nil
            : try await RequestService(database).latest(campaignID: campaign.id, userID: owner.user.id)
        let waiting = latest?.status == .pending ? latest : nil
        // Given by others while no tab was open: counted once, on this visit.
        let arrived = owner.viewingAs ? 0
            : try await ConversationService(database).newSinceLastVisit(campaignID: campaign.id, userID: owner.user.id)
        var senders: [Option] = []
        if session.user.role.canManage {
            senders = try await SenderService(database).list(campaignID: campaign.id).senders.map {
                Option(value: $0.handle, label: "\($0.name) (\($0.handle))", selected: $0.handle == owner.user.handle)
            }
        }
        let next = page.nextCursor.map {
            Self.queueURL(campaign.id, filter: filter, viewingAs: viewingAs, extra: [URLQueryItem(name: "cursor", value: $0)])
        }
        var model = QueuePage(
            title: owner.viewingAs ? "Viewing as \(owner.user.handle)" : "Assigned to Me", user: UserView(session.user),
            csrf: session.csrfToken, campaign: CampaignView(campaign),
            heading: owner.viewingAs ? "Viewing as \(owner.user.name) (\(owner.user.handle))" : "Assigned to Me",
            viewingAs: viewingAs, manager: session.user.role.canManage, senders: senders, filters: filters,
            unassignedView: filter == "unassigned",
            listHeading: filter == "open" ? "Open conversations"
                : filter == "unassigned" ? "Unassigned, needing a reply"
                : Self.queueFilters.first { $0.value == filter }?.label ?? "Conversations",
            conversations: page.conversations.map { conversation in
                QueuePage.Row(link: "/conversations/\(conversation.id)",
                              contact: conversation.name.isEmpty ? conversation.phone : conversation.name,
                              phone: conversation.phone, status: StatusChoices.label(conversation.status.rawValue),
                              unread: conversation.unread,
                              at: Words.time(conversation.lastMessageAt ?? conversation.createdAt))
            },
            next: next, banner: Self.queueBanner(query, refusal: refusal)
                ?? (arrived == 0 ? nil : "\(Words.conversations(arrived)) \(arrived == 1 ? "was" : "were") assigned to you since your last visit."),
            canRequest: !owner.viewingAs && settings.selfAssign && refusal == nil && waiting == nil,
            requestHint: settings.selfAssign ? refusal?.message ?? Self.requestHint(latest) : nil, formKey: ConsoleAuth.randomToken(bytes: 16),
            upNext: Words.conversations(counts.upNext), selfAssign: settings.selfAssign,
            canRelease: !owner.viewingAs && counts.notStarted > 0,
            live: "/campaigns/\(campaign.id)/queue/live" + (viewingAs.map { "?as=\($0)" } ?? ""),
            empty: filter == "unassigned" ? "No unassigned conversation is waiting for a reply."
                : "No conversations here.")
        if !owner.viewingAs && owner.active {
            model.availability = .init(available: try await RoutingService(database).isAvailable(
                campaignID: campaign.id, userID: owner.user.id))
        }
        return try render("queue", model)
    }

    /// Where the texter's last request held for approval stands: waiting, or denied (with the organizer's note).
    static func requestHint(_ latest: RequestService.Request?) -> String? {
        guard let latest else { return nil }
        switch latest.status {
        case .pending:
            return "Waiting for approval: you asked for \(Words.conversations(latest.count)) at \(Words.time(latest.createdAt)). They arrive here as soon as an organizer approves."
        case .denied:
            return "Your last request was denied by \(latest.decidedBy ?? "an organizer")" + (latest.note.map { ": \($0)" } ?? ".")
        case .approved, .expired:
            return nil
        }
    }

    /// What the redirect after Request Conversations or Release says. After a refusal (`refused=CODE`), Core's own
    /// sentence for why a request is refused now.
    static func queueBanner(_ query: Parameters, refusal: SwitchboardError?) -> String? {
        // `pending`: the request section says it waits (and stops saying so, live, once it is decided).
        if let granted = query.get("granted").flatMap(Int.init) {
            return granted == 1 ? "1 conversation arrived." : "\(granted) conversations arrived."
        }
        if let released = query.get("released").flatMap(Int.init) {
            return "\(Words.conversations(released)) went back to the pool."
        }
        if query.get("refused") != nil {
            return refusal?.message ?? "Your request was refused; nothing was assigned. Try again."
        }
        return nil
    }

    /// Request Conversations: one batch per form (a double click sends the same form key twice and gets the
    /// first answer again).
    func requestConversations(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        let service = SelfAssignService(database)
        do {
            let result = try await once(context.form, user: session.user, answer: { (grant: SelfAssignService.Grant) in
                Requested(moved: grant.result.moved, pending: grant.pendingRequest)
            }) {
                try await service.requestMore(campaignID: campaign.id, sender: session.user.handle,
                                              actor: session.user.handle, orgID: session.user.orgID)
            }
            if result.pending != nil {
                return redirect(Self.queueURL(campaign.id, extra: [URLQueryItem(name: "pending", value: "1")]))
            }
            return redirect(Self.queueURL(campaign.id, filter: "not-started",
                                          extra: [URLQueryItem(name: "granted", value: String(result.moved))]))
        } catch let error as SwitchboardError where error.kind == .refused || error.kind == .notFound
                    || error.code == "not_in_team" {
            return redirect(Self.queueURL(campaign.id, extra: [URLQueryItem(name: "refused", value: error.code)]))
        }
    }

    func releasePage(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let counts = try await ConversationService(database).queueCounts(userID: session.user.id, campaignID: campaign.id)
        return try render("release", ReleasePage(user: UserView(session.user), csrf: session.csrfToken,
                                                 campaign: CampaignView(campaign),
                                                 count: Words.conversations(counts.notStarted),
                                                 back: Self.queueURL(campaign.id), formKey: ConsoleAuth.randomToken(bytes: 16)))
    }

    func release(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let service = SelfAssignService(database)
        let result = try await once(context.form, user: session.user) {
            try await service.release(campaignID: campaign.id, sender: session.user.handle, actor: session.user.handle,
                                      orgID: session.user.orgID)
        }
        return redirect(Self.queueURL(campaign.id, extra: [URLQueryItem(name: "released", value: String(result.moved))]))
    }

    /// The events of the queue's owner: a conversation given to them, taken from them, or changed by a message.
    func queueLive(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let owner = try await queueOwner(request, campaign, session)
        return eventStream(try await hub.open(.user(owner.user.id), owner: session.user.id, limit: streams.perUser),
                           limits: streams, channel: context.channel)
    }

    // MARK: A conversation, for its texter

    func texterConversation(_ conversation: Conversation, _ session: ConsoleAuth.Session, error: String? = nil,
                            status: HTTPResponse.Status = .ok) async throws -> Response {
        try await Access(database).requireSender(session.user, of: conversation.campaignID,
                                                 refusal: "You are not an active sender of this conversation's campaign.")
        try Access.check(.read, on: conversation, by: session.user)
        let orgID = session.user.orgID
        var conversation = conversation
        if conversation.unread && conversation.assignee == session.user.handle {
            conversation = try await MessageService(database).open(conversationID: conversation.id, by: session.user.id,
                                                                    orgID: orgID)
        }
        let campaign = try await CampaignService(database).campaign(id: conversation.campaignID, orgID: orgID)
        let messages = try await MessageService(database).messages(conversationID: conversation.id, orgID: orgID)
        let model = ThreadPage(
            title: conversation.name.isEmpty ? conversation.phone : conversation.name, user: UserView(session.user),
            csrf: session.csrfToken, campaign: CampaignView(campaign), back: Self.queueURL(campaign.id), id: conversation.id,
            contact: conversation.name.isEmpty ? conversation.phone : conversation.name, phone: conversation.phone,
            status: StatusChoices.label(conversation.status.rawValue), unassigned: conversation.assignee == nil,
            canReply: conversation.status != .optedOut, canClose: conversation.status != .optedOut
                && conversation.status != .closed && Access.allows(.close, on: conversation, by: session.user),
            messages: Self.thread(messages), formKey: ConsoleAuth.randomToken(bytes: 16), error: error)
        return try render("thread", model, status: status)
    }

    static func thread(_ messages: [MessageService.Message]) -> [ConversationPage.MessageRow] {
        messages.map { message in
            ConversationPage.MessageRow(direction: message.direction == .inbound ? "inbound" : "outbound",
                                        who: message.direction == .inbound ? "Contact" : message.sender ?? "Sender",
                                        body: message.body, at: Words.time(message.createdAt))
        }
    }

    /// Reply (claims an unassigned conversation) or Reply and leave unassigned: records the outbound message the
    /// texting layer sends.
    func reply(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let conversation = try await Access(database).conversation(id, for: session.user, to: .reply)
        let form = context.form
        do {
            guard let body = try form.value("body") else {
                throw SwitchboardError(.invalid, "invalid_body", "The message body is empty.")
            }
            let leave = try form.value("action") == "leave"
            // The answer kept for a repeat is made from the value of the message's transaction: its message id
            // and claim batch.
            _ = try await once(form, user: session.user, answer: { (recorded: (Int64, Int64?)) in
                Replied(messageID: recorded.0)
            }) {
                let recorded = try await MessageService(database).record(
                    .conversation(id), direction: .outbound, body: body, sender: session.user.handle,
                    leaveUnassigned: leave, orgID: session.user.orgID, caller: session.user)
                return (recorded.messageID, recorded.claimBatchID)
            }
            return redirect("/conversations/\(id)")
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .refused {
            return try await texterConversation(conversation, session, error: error.message, status: .unprocessableContent)
        }
    }

    func close(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let conversation = try await ConversationService(database).conversation(id: id, orgID: session.user.orgID)
        // Organizers do not close as someone else here: the console's Close is the assignee's.
        guard conversation.assignee == session.user.handle else {
            throw SwitchboardError(.forbidden, "not_your_conversation", "Only the conversation's assignee can close it.")
        }
        do {
            _ = try await MessageService(database).close(conversationID: id, sender: session.user.handle,
                                                         orgID: session.user.orgID, caller: session.user)
        } catch let error as SwitchboardError where error.kind == .refused {
            return try await texterConversation(conversation, session, error: error.message, status: .unprocessableContent)
        }
        return redirect(Self.queueURL(conversation.campaignID))
    }

    // MARK: One answer per form

    /// Runs `operation` once per form (its `form_key`) and returns its answer, typed; a repeat of the same form
    /// gets the first answer again. `answer` makes it from the value the operation's transaction returns (which is
    /// what is recorded with it, by that transaction).
    func once<Value: Sendable, Answer: Codable & Sendable>(
        _ form: FormBody, user: User, answer: @escaping @Sendable (Value) -> Answer,
        _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Answer {
        let key = try form.value("form_key") ?? ConsoleAuth.randomToken(bytes: 16)
        var hasher = SHA256()
        for field in form.fields where field.name != "csrf" && field.name != "confirm_word" {
            hasher.update(data: Data("\(field.name)=\(field.value)\n".utf8))
        }
        let stored = try await Idempotency(database: database).once(
            key: "console:\(key)", requestHash: Array(hasher.finalize()), user: user,
            respond: { try Encoded(answer($0)) }, operation)
        return try JSONDecoder.switchboard.decode(Answer.self, from: Data(buffer: stored.body))
    }

    /// For operations whose transaction returns the batch's result.
    func once(_ form: FormBody, user: User, _ operation: @escaping @Sendable () async throws -> BatchResult) async throws
        -> BatchResult
    {
        try await once(form, user: user, answer: { $0 }, operation)
    }

    /// What Request Conversations' form keeps for a repeat: how many arrived, or the request now waiting.
    struct Requested: Codable, Sendable {
        let moved: Int
        let pending: Int64?
    }

    /// What a reply's form keeps for a repeat: the message it recorded.
    struct Replied: Codable, Sendable {
        let messageID: Int64
        enum CodingKeys: String, CodingKey { case messageID = "message_id" }
    }
}
