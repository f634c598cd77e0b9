import Foundation
import Hummingbird
import SwitchboardCore

extension Console {
    func history(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let before = request.uri.queryParameters.get("before").flatMap { Int64($0) }
        let pageSize = 100
        let batches = try await HistoryService(database).campaign(id: campaign.id, limit: pageSize, before: before,
                                                                  orgID: session.user.orgID)
        let rows = batches.map { batch in
            HistoryPage.Row(id: batch.id, at: Words.time(batch.createdAt), actor: batch.actor,
                            kind: Words.operation(batch.kind),
                            statusFilter: StatusChoices.label(batch.statusFilter)
                                + (batch.parameters["filter"].map { "; \($0)" } ?? ""),
                            moved: batch.moved, unchanged: batch.unchanged, undoneBy: batch.undoneBy,
                            canUndo: batch.undoneBy == nil && batch.kind != "undo" && batch.moved > 0, note: batch.note)
        }
        let older = batches.count == pageSize ? batches.last.map { "/campaigns/\(campaign.id)/history?before=\($0.id)" } : nil
        return try render("history", HistoryPage(user: UserView(session.user), csrf: session.csrfToken,
                                                 campaign: CampaignView(campaign), batches: rows, older: older))
    }

    func batch(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let history = HistoryService(database)
        let batch = try await history.batch(id: id, orgID: session.user.orgID)
        let campaign = try await CampaignService(database).campaign(id: batch.campaignID, orgID: session.user.orgID)
        let after = request.uri.queryParameters.get("after").flatMap { Int64($0) }
        let pageSize = 200
        let changes = try await history.changes(batchID: id, limit: pageSize, after: after)
        let moves = changes.map {
            BatchPage.Move(conversationID: $0.conversationID, from: $0.from ?? "Unassigned", to: $0.to ?? "Unassigned")
        }
        let next = changes.count == pageSize ? changes.last.map { "/batches/\(id)?after=\($0.conversationID)" } : nil
        return try render("batch", BatchPage(title: "Batch \(id)", user: UserView(session.user), csrf: session.csrfToken,
                                             campaign: CampaignView(campaign), batch: batch,
                                             at: Words.time(batch.createdAt), moves: moves, next: next,
                                             filter: batch.parameters["filter"]))
    }

    /// An organizer's Manage Conversation page, or a texter's thread with its reply box.
    func conversation(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        guard session.user.role.canManage else {
            let id = try context.parameters.require("id", as: Int64.self)
            let conversation = try await ConversationService(database).conversation(id: id, orgID: session.user.orgID)
            return try await texterConversation(conversation, session)
        }
        return try await renderConversation(context, session, error: nil)
    }

    func renderConversation(_ context: AppRequestContext, _ session: ConsoleAuth.Session, error: String?,
                            status: HTTPResponse.Status = .ok) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let orgID = session.user.orgID
        let conversation = try await ConversationService(database).conversation(id: id, orgID: orgID)
        let campaign = try await CampaignService(database).campaign(id: conversation.campaignID, orgID: orgID)
        let messages = try await MessageService(database).messages(conversationID: id, orgID: orgID)
        let moves = try await HistoryService(database).conversation(id: id, orgID: orgID)
        let senders = try await SenderService(database).list(campaignID: campaign.id).senders.filter(\.active)
        var page = ConversationPage(
            title: conversation.name.isEmpty ? conversation.phone : conversation.name, user: UserView(session.user),
            csrf: session.csrfToken, campaign: CampaignView(campaign),
            back: Self.overviewURL(campaign.id, sender: conversation.assignee ?? "unassigned"), id: id,
            contact: conversation.name.isEmpty ? conversation.phone : conversation.name, phone: conversation.phone,
            status: StatusChoices.label(conversation.status.rawValue), assignee: conversation.assignee ?? "Unassigned",
            assigned: conversation.assignee != nil,
            messages: Self.thread(messages),
            targets: senders.filter { $0.handle != conversation.assignee }.map {
                OverviewPage.Target(handle: $0.handle, label: "\($0.name) (\($0.handle))", checked: false)
            },
            history: moves.reversed().map { move in
                ConversationPage.Move(at: Words.time(move.at), actor: move.actor, from: move.from ?? "Unassigned",
                                      to: move.to ?? "Unassigned", kind: Words.operation(move.kind), batchID: move.batchID)
            },
            error: error)
        page.tags = try await RoutingService(database).tags(conversationID: id, orgID: orgID).joined(separator: ", ")
        page.teams = try await TeamService(database).list(orgID: orgID).map { Option(value: $0.name, label: $0.name, selected: false) }
        page.hasTeams = !page.teams.isEmpty
        return try render("conversation", page, status: status)
    }

    /// The Manage Conversation box: Reassign to a sender, or Unassign.
    func reassign(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let action = try context.form.value("action") ?? "reassign"
        do {
            switch action {
            case "escalate":
                if let team = try context.form.value("team"), !team.isEmpty {
                    if let skill = try context.form.value("skill"), !skill.isEmpty {
                        throw SwitchboardError(.invalid, "conflicting_target", "Choose a skill or a team to escalate to, not both.")
                    }
                    _ = try await RoutingService(database).escalate(
                        conversationID: id, toTeam: team, actor: session.user.handle, note: try context.form.value("note"),
                        orgID: session.user.orgID)
                    return redirect("/conversations/\(id)")
                }
                _ = try await RoutingService(database).escalate(
                    conversationID: id, skill: try context.form.value("skill") ?? "", actor: session.user.handle,
                    note: try context.form.value("note"), orgID: session.user.orgID)
                return redirect("/conversations/\(id)")
            case "tags":
                try await setTags(id, text: try context.form.value("tags") ?? "", session)
                return redirect("/conversations/\(id)")
            default:
                break
            }
            let to = action == "unassign" ? nil : try context.form.value("to")
            if action != "unassign" && to == nil {
                throw SwitchboardError(.invalid, "missing_target", "Choose the sender to reassign this conversation to.")
            }
            _ = try await AssignmentService(database).reassign(conversationID: id, to: to, actor: session.user.handle,
                                                               orgID: session.user.orgID)
            return redirect("/conversations/\(id)")
        } catch let error as SwitchboardError where error.kind == .invalid || error.kind == .conflict
            || error.kind == .refused || error.kind == .notFound
        {
            return try await renderConversation(context, session, error: error.message, status: .unprocessableContent)
        }
    }

    /// The campaign's assignment events, for an open overview's live counts.
    func live(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        return eventStream(try await hub.open(.campaign(campaign.id), owner: session.user.id, limit: streams.perUser),
                           limits: streams, channel: context.channel)
    }
}
