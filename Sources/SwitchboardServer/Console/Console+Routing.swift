import Foundation
import Hummingbird
import SwitchboardCore

/// The console's routing pages: a sender's skills, the shift handoff, and a texter's own Away / Available.
extension Console {
    /// Sets a sender's skills to the comma-separated `text`; returns the banner's sentence.
    func setSkills(_ campaign: Campaign, handle: String, text: String, _ session: ConsoleAuth.Session) async throws
        -> String
    {
        let routing = RoutingService(database)
        let orgID = session.user.orgID
        let wanted = try await replace(
            text, kind: "skill", held: routing.skills(campaignID: campaign.id, orgID: orgID)[handle] ?? [],
            remove: { try await routing.removeSkills(campaignID: campaign.id, handle: handle, skills: $0, orgID: orgID) },
            add: { try await routing.addSkills(campaignID: campaign.id, handle: handle, skills: $0, orgID: orgID) })
        return wanted.isEmpty ? "\(handle) has no skills now." : "\(handle)'s skills: \(wanted.joined(separator: ", "))."
    }

    /// Sets a conversation's tags to the comma-separated `text`.
    func setTags(_ id: Int64, text: String, _ session: ConsoleAuth.Session) async throws {
        let routing = RoutingService(database)
        let orgID = session.user.orgID
        _ = try await replace(
            text, kind: "tag", held: routing.tags(conversationID: id, orgID: orgID),
            remove: { try await routing.removeTags(conversationID: id, tags: $0, orgID: orgID) },
            add: { try await routing.addTags(conversationID: id, tags: $0, orgID: orgID) })
    }

    /// Replaces the set `held` by the skills or tags typed in `text` (separated by commas or spaces), removing and
    /// adding only the difference; returns the new set, sorted.
    private func replace(_ text: String, kind: String, held: [String],
                         remove: ([String]) async throws -> [String], add: ([String]) async throws -> [String])
        async throws -> [String]
    {
        let wanted = Set(try text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map {
            try RoutingService.validate(tag: String($0), kind: kind)
        })
        let removed = held.filter { !wanted.contains($0) }
        let added = wanted.subtracting(held).sorted()
        if !removed.isEmpty { _ = try await remove(removed) }
        if !added.isEmpty { _ = try await add(added) }
        return wanted.sorted()
    }

    /// The shift handoff from the Senders page: one batch, undoable from the banner's History link.
    func handoff(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws -> Response {
        let campaign = try await campaign(context, session)
        let form = context.form
        do {
            guard let from = try form.value("from"), !from.isEmpty else {
                throw SwitchboardError(.invalid, "missing_field", "Choose whose shift ends.")
            }
            let to = try form.value("to") ?? "policy"
            let team = to.hasPrefix("team:") ? String(to.dropFirst(5)) : nil
            var handoff = RoutingService.HandoffRequest(
                campaignID: campaign.id, from: from, to: to == "policy" || team != nil ? nil : to,
                status: try StatusFilter(parsing: try form.value("status") ?? "any"), actor: session.user.handle,
                note: try AssignmentService.validate(note: try form.value("note")), orgID: session.user.orgID)
            handoff.toTeam = team
            let result = try await once(form, user: session.user) { [database, handoff] in
                try await RoutingService(database).handoff(handoff)
            }
            var done = "Handed off \(Words.conversations(result.moved)) from \(from), who is now away."
            if let batch = result.batchID { done += " Batch \(batch): undo it in History." }
            var components = URLComponents()
            components.path = "/campaigns/\(campaign.id)/senders"
            components.queryItems = [URLQueryItem(name: "done", value: done)]
            return redirect(components.string ?? components.path)
        } catch let error as SwitchboardError where error.kind != .unavailable {
            return try await renderSenders(request, campaign, session, error: error.message, status: .unprocessableContent)
        }
    }

    /// A texter marks themselves away (routing gives them nothing) or available, from their messenger.
    func availability(_ request: Request, _ context: AppRequestContext, _ session: ConsoleAuth.Session) async throws
        -> Response
    {
        let id = try context.parameters.require("id", as: Int64.self)
        let available = try context.form.value("available") == "on"
        try await RoutingService(database).setAvailability(campaignID: id, handle: session.user.handle,
                                                           available: available, orgID: session.user.orgID)
        return redirect("/campaigns/\(id)/queue")
    }
}
