import Foundation
import Hummingbird
import SwitchboardCore

/// A batch form as posted: Reassign All, Reassign Some or Unassign All, of one source.
struct BatchInput {
    let op: String
    /// A handle, "unassigned" or "anyone".
    let from: String
    let status: StatusFilter
    let statusValue: String
    let to: [String]
    let toAll: Bool
    /// A team instead of senders.
    let toTeam: String?
    let balance: Bool
    let count: Int?
    let back: String
    /// Stored with the batch and shown in History.
    let note: String?
    /// Skip targets who are away.
    let availableOnly: Bool
    /// The filter bar and the conversations ticked by hand.
    let selection: ConsoleSelection
    let filter: ConversationFilter
    /// From the preview: the confirmation moves only what it showed.
    let previewToken: String?

    /// What was typed, to put back into the form after an error.
    struct Kept {
        let op: String
        let status: String
        let count: String
        let to: [String]
        let toAll: Bool
        let balance: Bool
        var toTeam: String? = nil
    }

    static func kept(_ form: FormBody) -> Kept {
        Kept(op: (try? form.value("op")) ?? "", status: (try? form.value("status")) ?? "any",
             count: (try? form.value("count")) ?? "", to: (try? form.values("to")) ?? [], toAll: form.flag("to_all"),
             balance: form.flag("balance"), toTeam: try? form.value("to_team"))
    }

    /// `op` is the operation when the form does not name it (Tag selected).
    init(_ form: FormBody, campaignID: Int64, op named: String? = nil) throws {
        op = try named ?? form.value("op") ?? ""
        guard ["reassign-all", "reassign-some", "unassign-all", "tag"].contains(op) else {
            throw SwitchboardError(.invalid, "invalid_operation", "Operation '\(op)' is not one this page offers.")
        }
        from = try form.value("from") ?? "anyone"
        statusValue = try form.value("status") ?? "any"
        status = try StatusFilter(parsing: statusValue)
        // Ticked check boxes, or a typed list of handles ("kevin, rebecca") when there are many senders.
        to = try form.values("to") + (try form.value("to_list") ?? "")
            .split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
        toAll = form.flag("to_all")
        let team = try form.value("to_team")?.trimmingCharacters(in: .whitespaces)
        toTeam = team?.isEmpty == false ? team : nil
        if toTeam != nil && (toAll || !to.isEmpty) {
            throw SwitchboardError(.invalid, "conflicting_target", "Choose senders or a team to receive them, not both.")
        }
        balance = form.flag("balance")
        if let text = try form.value("count") {
            guard let count = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw SwitchboardError(.invalid, "invalid_count", "Count '\(text)' is not a whole number.")
            }
            self.count = count
        } else {
            count = nil
        }
        back = Console.safeNext(try form.value("back") ?? "/campaigns/\(campaignID)")
        note = try AssignmentService.validate(note: try form.value("note"))
        availableOnly = form.flag("available_only")
        selection = try ConsoleSelection(form: form)
        filter = try selection.filter()
        previewToken = try form.value("preview_token")
        // The list's own form acts on what was ticked, or on everything matching after "Select all".
        if form.flag("pick") && selection.picked.isEmpty && !selection.allMatching {
            throw SwitchboardError(.invalid, "nothing_selected",
                                   "Tick at least one conversation, or choose Select all matching; nothing was changed.")
        }
    }

    var source: Source {
        switch from {
        case "anyone": .anyone
        case "unassigned": .unassigned
        default: .sender(from)
        }
    }

    var target: Target {
        if let toTeam { return .team(toTeam) }
        return toAll ? .allActive : .senders(to)
    }

    /// Unassign All's sender, nil for every sender (Bulk Unassign All).
    var unassignFrom: String? { from == "anyone" ? nil : from }

    /// The word Unassign All's confirmation asks for.
    var confirmWord: String { unassignFrom ?? "unassign" }

    var title: String {
        let base = Words.operation(op)
        if !selection.picked.isEmpty { return op == "unassign-all" ? "Unassign selected" : "Reassign selected" }
        return from == "anyone" ? "Bulk \(base)" : base
    }

    func request(_ campaign: Campaign, _ user: User, dryRun: Bool) -> AssignmentService.BulkRequest {
        var request = AssignmentService.BulkRequest(
            campaignID: campaign.id, source: source, status: status, target: target, count: count,
            distribution: balance ? .balance : .even, actor: user.handle, dryRun: dryRun, note: note,
            availableOnly: availableOnly, orgID: user.orgID)
        request.filter = filter
        request.previewToken = dryRun ? nil : previewToken
        return request
    }

    /// The hidden fields that carry this form from the preview to the confirmation.
    var fields: [PreviewPage.Field] {
        var fields = [("op", op), ("from", from), ("status", statusValue), ("back", back)]
        fields += to.map { ("to", $0) }
        if toAll { fields.append(("to_all", "on")) }
        if let toTeam { fields.append(("to_team", toTeam)) }
        if balance { fields.append(("balance", "on")) }
        if let count { fields.append(("count", String(count))) }
        if let note { fields.append(("note", note)) }
        if availableOnly { fields.append(("available_only", "on")) }
        return fields.map { PreviewPage.Field(name: $0.0, value: $0.1) } + selection.fields
    }
}

extension Console {
    /// Every batch form lands here first: the dry run, drawn as each sender's count before → after.
    func preview(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let form = context.form
        do {
            let input = try BatchInput(form, campaignID: campaign.id)
            let before = try await SenderService(database).list(campaignID: campaign.id)
            let service = AssignmentService(database)
            let result: BatchResult
            var token: String?
            switch input.op {
            case "unassign-all":
                let preview = try await service.previewUnassignAll(
                    campaignID: campaign.id, from: input.unassignFrom, status: input.status, actor: session.user.handle,
                    filter: input.filter, orgID: session.user.orgID)
                token = preview.confirmationToken
                result = try await service.unassignAll(
                    campaignID: campaign.id, from: input.unassignFrom, status: input.status, actor: session.user.handle,
                    confirmationToken: nil, dryRun: true, filter: input.filter, orgID: session.user.orgID)
            case "reassign-some":
                result = try await service.reassignSome(input.request(campaign, session.user, dryRun: true))
            default:
                result = try await service.reassignAll(input.request(campaign, session.user, dryRun: true))
            }
            var fields = input.fields
            if let token { fields.append(PreviewPage.Field(name: "confirmation_token", value: token)) }
            // Unassign All's confirmation binds what it counted; the others confirm with the preview's own token.
            if token == nil, let previewToken = result.previewToken {
                fields.append(PreviewPage.Field(name: "preview_token", value: previewToken))
            }
            fields.append(PreviewPage.Field(name: "form_key", value: ConsoleAuth.randomToken(bytes: 16)))
            let page = PreviewPage(
                title: input.title, user: UserView(session.user), csrf: session.csrfToken,
                campaign: CampaignView(campaign), back: input.back, summary: Self.summary(input, result),
                chart: BarChart.svg(Self.chartRows(before: before, result: result, input: input)),
                canConfirm: result.moved > 0,
                confirmButton: input.selection.picked.isEmpty ? Words.operation(input.op) : input.title,
                confirmWord: input.op == "unassign-all" ? input.confirmWord : nil, fields: fields, error: nil)
            return try render("preview", page)
        } catch let error as SwitchboardError where error.kind != .unavailable {
            return try await renderAgain(campaign, session, form: form, error: error)
        }
    }

    /// The confirmed batch: runs it for real, once per preview (a double click replays the first answer), and
    /// goes back to the overview with a banner saying what happened.
    func apply(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let form = context.form
        do {
            let input = try BatchInput(form, campaignID: campaign.id)
            let service = AssignmentService(database)
            if input.op == "unassign-all" {
                guard (try form.value("confirm_word"))?.trimmingCharacters(in: .whitespaces) == input.confirmWord else {
                    throw SwitchboardError(.refused, "not_confirmed",
                                           "Type '\(input.confirmWord)' to confirm Unassign All; nothing was changed.")
                }
            }
            let result = try await once(form, user: session.user) {
                switch input.op {
                case "unassign-all":
                    try await service.unassignAll(
                        campaignID: campaign.id, from: input.unassignFrom, status: input.status, actor: session.user.handle,
                        confirmationToken: try form.value("confirmation_token"), note: input.note, filter: input.filter,
                        orgID: session.user.orgID)
                case "reassign-some":
                    try await service.reassignSome(input.request(campaign, session.user, dryRun: false))
                default:
                    try await service.reassignAll(input.request(campaign, session.user, dryRun: false))
                }
            }
            let done = result.batchID.map(String.init) ?? "none"
            var items = [URLQueryItem(name: "done", value: done)]
            if let gone = result.noLongerMatching, gone > 0 { items.append(URLQueryItem(name: "gone", value: String(gone))) }
            return redirect(Self.adding(items, to: input.back))
        } catch let error as SwitchboardError where error.kind != .unavailable {
            return try await renderAgain(campaign, session, form: form, error: error)
        }
    }

    /// The overview a failed batch form was posted from, with the error, what was typed, and its selection (the
    /// list is shown unfiltered when the filter itself was the bad value).
    func renderAgain(_ campaign: Campaign, _ session: ConsoleAuth.Session, form: FormBody, error: SwitchboardError)
        async throws -> Response
    {
        let kept = try? ConsoleSelection(form: form)
        let usable = kept.flatMap { (try? $0.filter()) != nil ? $0 : nil }
        return try await renderOverview(campaign, session, selected: Self.selection(form), status: nil, sort: nil,
                                        cursor: nil, error: error.message, kept: BatchInput.kept(form),
                                        responseStatus: .unprocessableContent, selection: usable ?? .none,
                                        keptSelection: kept)
    }

    /// "Tag selected": the ticked conversations of the list (or, with Select all, every one matching its filter
    /// bar) get a tag, in one statement; back to the list with a banner.
    func tagSelected(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let campaign = try await campaign(context, session)
        let form = context.form
        do {
            let input = try BatchInput(form, campaignID: campaign.id, op: "tag")
            let tag = try form.value("tag_name") ?? ""
            let assignee: ConversationService.AssigneeFilter = input.from == "unassigned" ? .unassigned
                : input.from == "anyone" ? .anyone : .sender(input.from)
            let changed = try await RoutingService(database).changeTags(
                campaignID: campaign.id, tags: [tag], add: true, status: input.status.status, filter: input.filter,
                assignee: assignee, orgID: session.user.orgID)
            return redirect(Self.adding([URLQueryItem(name: "tagged", value: String(changed))], to: input.back))
        } catch let error as SwitchboardError where error.kind != .unavailable {
            return try await renderAgain(campaign, session, form: form, error: error)
        }
    }

    func undo(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let batch = try await HistoryService(database).batch(id: id, orgID: session.user.orgID)
        let back = Self.safeNext(try context.form.value("back") ?? "/campaigns/\(batch.campaignID)")
        let result = try await AssignmentService(database).undo(batchID: id, actor: session.user.handle,
                                                                orgID: session.user.orgID)
        return redirect(Self.adding([URLQueryItem(name: "done", value: result.batchID.map(String.init) ?? "none"),
                                     URLQueryItem(name: "skipped", value: String(result.skipped ?? 0))], to: back))
    }

    /// `back` with `items` in its query (replacing earlier banners' parameters).
    static func adding(_ items: [URLQueryItem], to back: String) -> String {
        guard var components = URLComponents(string: back) else { return back }
        let names = Set(items.map(\.name) + ["done", "skipped", "cursor", "gone", "tagged"])
        components.queryItems = (components.queryItems ?? []).filter { !names.contains($0.name) } + items
        return components.string ?? back
    }

    /// The sender a failed form was posted from, to show the same overview again.
    static func selection(_ form: FormBody) -> String? {
        guard let from = try? form.value("from"), from != "anyone" else { return nil }
        return from
    }

    static func summary(_ input: BatchInput, _ result: BatchResult) -> String {
        let status = StatusChoices.label(input.statusValue)
        if result.moved == 0 {
            return "\(input.title) would move nothing: no conversation of status \(status) is there to move"
                + (result.matched > 0 ? " (\(result.matched) already where they would go)." : ".")
        }
        var text = "\(input.title) would move \(Words.conversations(result.moved)) (status \(status)"
            + (input.selection.scope.map { ", \($0)" } ?? "") + ")"
        if input.op == "unassign-all" {
            text += " back to Unassigned."
        } else {
            let receivers = result.perSender.filter { $0.received > 0 }.count
            text += " to \(receivers == 1 ? "1 sender" : "\(receivers) senders")."
        }
        if let requested = result.requested, requested > result.matched {
            text += " You asked for \(requested); only \(result.matched) match."
        }
        if result.unchanged > 0 { text += " \(Words.conversations(result.unchanged)) stay where they are." }
        return text
    }

    /// Unassigned, then every sender the batch changes or names as a target, before → after.
    static func chartRows(before: SenderList, result: BatchResult, input: BatchInput) -> [BarChart.Row] {
        let received = Dictionary(result.perSender.map { ($0.handle, $0.received) }, uniquingKeysWith: +)
        let removed = result.removedBySender
        let pool = removed.values.reduce(0, +) - received.values.reduce(0, +)
        var rows = [BarChart.Row(label: "Unassigned", spoken: "Unassigned", before: before.unassigned.total,
                                 after: before.unassigned.total + pool)]
        let targets = Set(result.perSender.map(\.handle))
        for sender in before.senders where targets.contains(sender.handle) || removed[sender.handle] != nil
            || received[sender.handle] != nil
        {
            let total = sender.counts.total
            rows.append(BarChart.Row(label: sender.handle,
                                     spoken: sender.name == sender.handle ? sender.handle : "\(sender.name) (\(sender.handle))",
                                     before: total,
                                     after: total + received[sender.handle, default: 0] - removed[sender.handle, default: 0]))
        }
        return rows
    }
}
