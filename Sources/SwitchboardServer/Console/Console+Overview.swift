import Foundation
import Hummingbird
import SwitchboardCore

extension Console {
    func campaigns(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let manager = session.user.role.canManage
        let rows = try await CampaignService(database).summaries(orgID: session.user.orgID,
                                                                 senderID: manager ? nil : session.user.id).map {
            CampaignsPage.Row(id: $0.id, name: $0.name, total: $0.total, unassigned: $0.unassigned, needsReply: $0.needsReply,
                              link: manager ? "/campaigns/\($0.id)" : Self.queueURL($0.id))
        }
        return try render("campaigns", CampaignsPage(user: UserView(session.user), csrf: session.csrfToken, campaigns: rows,
                                                     manager: manager, admin: session.user.role == .admin))
    }

    /// Where the overview is, with its selection, filter and sort.
    static func overviewURL(_ campaignID: Int64, sender: String?, status: String? = nil, sort: String? = nil,
                            extra: [URLQueryItem] = []) -> String {
        var components = URLComponents()
        components.path = "/campaigns/\(campaignID)"
        var items: [URLQueryItem] = []
        if let sender { items.append(URLQueryItem(name: "sender", value: sender)) }
        if let status, status != "any" { items.append(URLQueryItem(name: "status", value: status)) }
        if let sort, sort != "sender" { items.append(URLQueryItem(name: "sort", value: sort)) }
        items += extra
        components.queryItems = items.isEmpty ? nil : items
        return components.string ?? components.path
    }

    func overview(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        guard session.user.role.canManage else { return redirect(Self.queueURL(campaign.id)) }
        let query = request.uri.queryParameters
        var banner: OverviewPage.Banner?
        let selected = query.get("sender").flatMap { $0.isEmpty ? nil : $0 }
        let selection = try ConsoleSelection(query: query)
        let here = Self.overviewURL(campaign.id, sender: selected, status: query.get("status"), sort: query.get("sort"),
                                    extra: selection.query)
        if let done = query.get("done") {
            banner = try await self.banner(done: done, skipped: query.get("skipped"), session: session, back: here)
            if let gone = query.get("gone").flatMap(Int.init), gone > 0, let shown = banner {
                banner = OverviewPage.Banner(
                    text: shown.text + " \(Words.conversations(gone)) of the preview no longer matched and stayed where they were.",
                    undoBatchID: shown.undoBatchID, back: shown.back)
            }
        }
        if let tagged = query.get("tagged").flatMap(Int.init) {
            banner = OverviewPage.Banner(text: "Tagged \(Words.conversations(tagged)).", undoBatchID: nil, back: here)
        }
        do {
            return try await renderOverview(campaign, session, selected: selected, status: query.get("status"),
                                            sort: query.get("sort"), cursor: query.get("cursor"), banner: banner,
                                            find: query.get("find"), showAll: query.get("all") == "1",
                                            selection: selection)
        } catch let error as SwitchboardError where error.kind == .invalid {
            // A filter bar with a bad value: the page again, unfiltered, saying which value.
            return try await renderOverview(campaign, session, selected: selected, status: query.get("status"),
                                            sort: query.get("sort"), cursor: nil, error: error.message,
                                            responseStatus: .unprocessableContent, selection: ConsoleSelection.none,
                                            keptSelection: selection)
        }
    }

    /// The Conversations Overview; with `error` and `kept`, the form that failed stays open with what was typed.
    func renderOverview(_ campaign: Campaign, _ session: ConsoleAuth.Session, selected: String?, status: String?,
                        sort: String?, cursor: String?, banner: OverviewPage.Banner? = nil, error: String? = nil,
                        kept: BatchInput.Kept? = nil, responseStatus: HTTPResponse.Status = .ok, find: String? = nil,
                        showAll: Bool = false, selection: ConsoleSelection = .none,
                        keptSelection: ConsoleSelection? = nil) async throws -> Response {
        if let selected, selected != "unassigned" { try Directory.validate(handle: selected) }
        let senderList = try await SenderService(database).list(campaignID: campaign.id)
        let sort = sort ?? "sender"
        let status = status.flatMap { value in StatusChoices.all.contains { $0.value == value } ? value : nil } ?? "any"
        func row(_ label: String, key: String, active: Bool, counts: StatusCounts, lastActive: Date? = nil,
                 sender: Bool = true, away: Bool = false, oldest: Int? = nil) -> OverviewPage.SenderRow {
            let sent = counts.total - counts[.notStarted]
            return OverviewPage.SenderRow(
                label: label, link: Self.overviewURL(campaign.id, sender: key, sort: sort), selected: selected == key,
                deactivated: !active, away: away && active, progress: "\(sent) / \(counts.total)", needsReply: counts[.needsReply],
                notStarted: counts[.notStarted], waiting: counts[.waiting], closed: counts[.closed],
                optedOut: counts[.optedOut], lastActive: sender ? lastActive.map(Words.time) ?? "Never" : "",
                oldestNeedsReply: oldest.map(ReplyTimers.words) ?? "")
        }
        var senders = senderList.senders
        switch sort {
        case "progress":
            func done(_ counts: StatusCounts) -> Double {
                counts.total == 0 ? 1 : Double(counts.total - counts[.notStarted]) / Double(counts.total)
            }
            senders.sort { (done($0.counts), $0.handle) < (done($1.counts), $1.handle) }
        case "needs-reply":
            senders.sort { ($0.counts[.needsReply], $1.handle) > ($1.counts[.needsReply], $0.handle) }
        case "oldest-needs-reply":
            // The longest wait first; senders with nothing waiting last, by handle.
            senders.sort { ($0.oldestNeedsReplySeconds ?? -1, $1.handle) > ($1.oldestNeedsReplySeconds ?? -1, $0.handle) }
        default:
            break
        }
        // A campaign with many senders shows the first `senderRows` in the chosen order (and the selected one),
        // or those matching `find`; rendering a thousand rows was most of the page's time.
        let fragment = find.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.flatMap { $0.isEmpty ? nil : $0 }
        if let fragment {
            try Text.check(fragment, field: "find", maximum: 200)
            senders = senders.filter { $0.handle.contains(fragment) || $0.name.lowercased().contains(fragment) }
        }
        let matching = senders.count
        if !showAll && senders.count > OverviewPage.senderRows {
            let chosen = senders.first { $0.handle == selected }
            senders = Array(senders.prefix(OverviewPage.senderRows))
            if let chosen, !senders.contains(where: { $0.handle == chosen.handle }) { senders.append(chosen) }
        }
        var more: String?
        if senders.count < matching {
            more = Self.overviewURL(campaign.id, sender: selected, sort: sort,
                                    extra: [URLQueryItem(name: "all", value: "1")] + (fragment.map { [URLQueryItem(name: "find", value: $0)] } ?? []))
        }
        let rows = [row("Unassigned", key: "unassigned", active: true, counts: senderList.unassigned, sender: false)]
            + senders.map {
                row("\($0.name) (\($0.handle))", key: $0.handle, active: $0.active, counts: $0.counts,
                    lastActive: $0.lastActiveAt, away: !$0.available, oldest: $0.oldestNeedsReplySeconds)
            }
        let selectedSender = senderList.senders.first { $0.handle == selected }
        let back = Self.overviewURL(campaign.id, sender: selected, status: status, sort: sort, extra: selection.query)
        let active = senderList.senders.filter(\.active)
        let teams = try await TeamService(database).list(orgID: campaign.orgID).map(\.name)
        let forms = actionForms(selected: selected, isSender: selectedSender != nil, active: active, back: back,
                                kept: kept, selection: selection, teams: teams)
        var list: OverviewPage.List?
        if let selected {
            list = try await conversationList(campaign, session, selected: selected, status: status, sort: sort,
                                              cursor: cursor, label: selectedSender.map { "\($0.name)'s conversations" },
                                              selection: selection, shownSelection: keptSelection ?? selection,
                                              back: back, active: active, isSender: selectedSender != nil)
        }
        var page = OverviewPage(
            user: UserView(session.user), csrf: session.csrfToken, campaign: CampaignView(campaign), banner: banner,
            senders: rows, sortSender: Self.overviewURL(campaign.id, sender: selected, sort: "sender"),
            sortProgress: Self.overviewURL(campaign.id, sender: selected, sort: "progress"),
            sortNeedsReply: Self.overviewURL(campaign.id, sender: selected, sort: "needs-reply"),
            sortOldest: Self.overviewURL(campaign.id, sender: selected, sort: "oldest-needs-reply"),
            bulk: selected == nil,
            selectedLabel: selected == "unassigned" ? "Unassigned" : selectedSender.map { "\($0.name) (\($0.handle))" } ?? selected ?? "",
            error: error, forms: forms,
            handles: active.count > OverviewPage.checkBoxLimit ? active.map(\.handle) : [], list: list,
            tabs: Self.tabs(campaign.id, current: "overview"), find: fragment ?? "", sort: sort,
            shown: senders.count < matching ? "Showing \(senders.count) of \(matching) senders." : nil, showAll: more,
            manySenders: senderList.senders.count > OverviewPage.senderRows,
            viewAs: selectedSender.map { Self.queueURL(campaign.id, viewingAs: $0.handle) })
        let backlog = senderList.unassigned[.needsReply]
        page.routing = "Routing: \(Words.policy(campaign.routing.policy)). "
            + (backlog == 1 ? "1 reply nobody owns" : "\(backlog) replies nobody owns") + " (Unassigned, Needs Reply)."
        let labels = ["<1h": "under 1 h", "1-6h": "1–6 h", "6-24h": "6–24 h", ">24h": "over 24 h"]
        page.needsReplyAges = "Needs Reply waiting: " + (try await ReplyTimers(database).needsReplyAges(campaignID: campaign.id))
            .map { "\(labels[$0.bucket] ?? $0.bucket) \($0.count)" }.joined(separator: " · ")
        return try render("overview", page, status: responseStatus)
    }

    func actionForms(selected: String?, isSender: Bool, active: [SenderCounts], back: String,
                     kept: BatchInput.Kept?, selection: ConsoleSelection = .none, teams: [String] = [])
        -> [OverviewPage.ActionForm] {
        let from = selected ?? "anyone"
        var actions: [(title: String, op: String)]
        switch selected {
        case nil: actions = [("Bulk Reassign All", "reassign-all"), ("Bulk Reassign Some", "reassign-some"),
                             ("Bulk Unassign All", "unassign-all")]
        case "unassigned": actions = [("Reassign All", "reassign-all"), ("Reassign Some", "reassign-some")]
        default: actions = [("Reassign All", "reassign-all"), ("Reassign Some", "reassign-some")]
            + (isSender ? [("Unassign All", "unassign-all")] : [])
        }
        if selected != nil && !isSender && selected != "unassigned" { actions = [] }
        let many = active.count > OverviewPage.checkBoxLimit
        return actions.map { action in
            let keep = kept?.op == action.op ? kept : nil
            let targets = many ? [] : active.map { sender in
                OverviewPage.Target(handle: sender.handle, label: "\(sender.name) (\(sender.handle))",
                                    checked: keep?.to.contains(sender.handle) ?? false)
            }
            return OverviewPage.ActionForm(
                title: action.title, op: action.op, from: from, back: back, hasCount: action.op == "reassign-some",
                count: keep?.count ?? "", statuses: StatusChoices.options(selected: keep?.status),
                hasTargets: action.op != "unassign-all", toAll: keep?.toAll ?? false, targets: targets,
                manyTargets: many, toText: keep?.to.joined(separator: ", ") ?? "",
                balance: keep?.balance ?? false, button: "Preview", open: keep != nil, selection: selection.fields,
                scope: selection.scope.map { "Acts on \($0)." },
                teams: teams.map { Option(value: $0, label: $0, selected: keep?.toTeam == $0) }, hasTeams: !teams.isEmpty)
        }
    }

    /// A sender's or Unassigned's conversations, oldest first (the order batches take them in), narrowed by the
    /// filter bar, each with a box to tick; the form around them acts on the ticked ones.
    func conversationList(_ campaign: Campaign, _ session: ConsoleAuth.Session, selected: String, status: String,
                          sort: String, cursor: String?, label: String?, selection: ConsoleSelection,
                          shownSelection: ConsoleSelection, back: String, active: [SenderCounts],
                          isSender: Bool) async throws -> OverviewPage.List {
        let assignee: ConversationService.AssigneeFilter = selected == "unassigned" ? .unassigned : .sender(selected)
        let statusFilter = try StatusFilter(parsing: status).status
        var filter = try selection.filter()
        filter.conversationIDs = nil
        let service = ConversationService(database)
        var rows: [OverviewPage.ConversationRow] = []
        var next: String?
        var matching = 0
        if selected == "unassigned" || isSender {
            let page = try await service.list(campaignID: campaign.id, assignee: assignee, status: statusFilter,
                                              filter: filter, limit: 50, cursor: cursor)
            matching = try await service.count(campaignID: campaign.id, assignee: assignee, status: statusFilter,
                                               filter: filter)
            rows = page.conversations.map { conversation in
                OverviewPage.ConversationRow(id: conversation.id,
                                             name: conversation.name.isEmpty ? conversation.phone : conversation.name,
                                             phone: conversation.phone,
                                             status: StatusChoices.label(conversation.status.rawValue),
                                             unread: conversation.unread,
                                             activity: Words.time(conversation.lastMessageAt ?? conversation.createdAt))
            }
            next = page.nextCursor.map {
                Self.overviewURL(campaign.id, sender: selected, status: status, sort: sort,
                                 extra: selection.query + [URLQueryItem(name: "cursor", value: $0)])
            }
        }
        let targets = active.filter { $0.handle != selected }.map {
            OverviewPage.Target(handle: $0.handle, label: "\($0.name) (\($0.handle))", checked: false)
        }
        return OverviewPage.List(
            heading: label ?? (selected == "unassigned" ? "Unassigned conversations" : "\(selected)'s conversations"),
            sender: selected, statuses: StatusChoices.options(selected: status), rows: rows, next: next,
            status: status, back: back, tag: shownSelection.tag, withoutTag: shownSelection.withoutTag,
            before: shownSelection.before, after: shownSelection.after, field: shownSelection.field,
            search: shownSelection.search, filtered: shownSelection.isFiltered,
            clear: Self.overviewURL(campaign.id, sender: selected, sort: sort), matching: matching,
            matchingText: "\(Words.conversations(matching)) match" + (shownSelection.isFiltered ? " the filter." : "."),
            selection: selection.fields.filter { $0.name != "conversation_ids" }, targets: targets,
            canUnassign: isSender, canPick: !rows.isEmpty)
    }

    /// What a finished batch did, in a sentence, with its Undo.
    func banner(done: String, skipped: String?, session: ConsoleAuth.Session, back: String) async throws
        -> OverviewPage.Banner
    {
        guard let id = Int64(done) else {
            return OverviewPage.Banner(text: "Nothing moved: every matching conversation was already where it would go.",
                                       undoBatchID: nil, back: back)
        }
        let batch = try await HistoryService(database).batch(id: id, orgID: session.user.orgID)
        let moved = Words.conversations(batch.moved)
        let source = Words.source(batch.parameters["source"] ?? "")
        let targets = (batch.parameters["to"] ?? "").split(separator: ",")
        let text: String
        switch batch.kind {
        case "undo":
            let skippedCount = Int(skipped ?? "") ?? 0
            text = "Undid batch \(batch.undoes.map(String.init) ?? ""): moved \(moved) back"
                + (skippedCount > 0 ? "; skipped \(Words.conversations(skippedCount)) that had moved since." : ".")
        case "unassign_all":
            text = "Unassigned \(moved) from \(source)."
        case "reassign":
            text = "Reassigned \(moved)."
        default:
            let to = targets.count == 1 ? String(targets[0]) : "\(targets.count) senders"
            text = "Moved \(moved) from \(source) to \(to)."
        }
        let undoable = batch.undoneBy == nil && batch.kind != "undo"
        return OverviewPage.Banner(text: text, undoBatchID: undoable ? batch.id : nil, back: back)
    }
}
