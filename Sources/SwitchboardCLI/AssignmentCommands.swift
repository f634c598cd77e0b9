import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard reassign-all --campaign C SOURCE [--status S] TARGET`
struct ReassignAll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reassign-all", abstract: "Move every conversation of a source matching a status to the target(s).")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var batch: BatchOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @OptionGroup var source: SourceOptions
    @Option(help: "any, not-started, needs-reply, waiting, closed or opted-out.") var status = "any"
    @OptionGroup var target: TargetOptions
    @OptionGroup var selection: SelectionOptions
    @Option(help: "From a --dry-run: move only the conversations it previewed that still match.") var previewToken: String?

    func run() async throws {
        let status = try StatusFilter(parsing: status)
        let filter = try selection.filter()
        let result = try await options.withBackend(idempotencyKey: batch.idempotencyKey) { backend in
            try await options.withProgress { onStart in
                var request = AssignmentService.BulkRequest(
                    campaignID: campaign, source: source.source, status: status, target: target.target,
                    distribution: target.distribution, actor: try batch.actor(backend), dryRun: batch.dryRun,
                    note: batch.note, availableOnly: target.availableOnly)
                request.filter = filter
                request.previewToken = previewToken
                return try await backend.bulk(request, onStart: onStart)
            }
        }
        try options.emit(result)
    }
}

/// `switchboard reassign-some --campaign C SOURCE [--status S] TARGET --count N`
struct ReassignSome: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reassign-some", abstract: "Move the N oldest matching conversations of a source to the target(s).")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var batch: BatchOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @OptionGroup var source: SourceOptions
    @Option(help: "any, not-started, needs-reply, waiting, closed or opted-out.") var status = "any"
    @OptionGroup var target: TargetOptions
    @Option(help: "How many of the oldest matching conversations to move.") var count: Int
    @OptionGroup var selection: SelectionOptions
    @Option(help: "From a --dry-run: move only the conversations it previewed that still match.") var previewToken: String?

    func run() async throws {
        let status = try StatusFilter(parsing: status)
        let filter = try selection.filter()
        let result = try await options.withBackend(idempotencyKey: batch.idempotencyKey) { backend in
            try await options.withProgress { onStart in
                var request = AssignmentService.BulkRequest(
                    campaignID: campaign, source: source.source, status: status, target: target.target,
                    count: count, distribution: target.distribution, actor: try batch.actor(backend),
                    dryRun: batch.dryRun, note: batch.note, availableOnly: target.availableOnly)
                request.filter = filter
                request.previewToken = previewToken
                return try await backend.bulk(request, onStart: onStart)
            }
        }
        try options.emit(result)
    }
}

/// `switchboard unassign-all --campaign C (--from HANDLE | --from-anyone) [--status S] [--yes]`
struct UnassignAll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unassign-all",
        abstract: "Return every matching conversation of a sender to the unassigned pool (asks for confirmation).")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var batch: BatchOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(name: .customLong("from"), help: "The sender whose conversations are unassigned.") var from: String?
    @Flag(help: "Every sender's conversations (Bulk Unassign All).") var fromAnyone = false
    @Option(help: "any, not-started, needs-reply, waiting, closed or opted-out.") var status = "any"
    @Flag(help: "Do not ask; confirm up front.") var yes = false
    @OptionGroup var selection: SelectionOptions
    @Option(help: "From a --dry-run: unassign only the conversations it previewed that still match.")
    var previewToken: String?

    func validate() throws {
        guard (from != nil) != fromAnyone else {
            throw ValidationError("Give exactly one of --from HANDLE and --from-anyone")
        }
    }

    func run() async throws {
        let status = try StatusFilter(parsing: status)
        let filter = try selection.filter()
        let result = try await options.withBackend(idempotencyKey: batch.idempotencyKey) { backend in
            let actor = try batch.actor(backend)
            if batch.dryRun {
                return try await backend.unassignAll(campaignID: campaign, from: from, status: status, actor: actor,
                                                     token: nil, dryRun: true, note: batch.note, filter: filter,
                                                     previewToken: previewToken)
            }
            // The preview's token is bound to campaign, sender, status, filter and actor, and to the conversations it
            // counted; the server checks it the same way.
            let preview = try await backend.previewUnassignAll(campaignID: campaign, from: from, status: status,
                                                               actor: actor, filter: filter)
            try options.confirm("This unassigns \(preview.count) conversations (status \(status.name)) from "
                                + "\(from.map { "'\($0)'" } ?? "every sender") in campaign \(campaign).",
                                expected: from ?? "unassign", yes: yes)
            return try await backend.unassignAll(campaignID: campaign, from: from, status: status, actor: actor,
                                                 token: preview.token, dryRun: false, note: batch.note, filter: filter,
                                                 previewToken: previewToken)
        }
        try options.emit(result)
    }
}

/// `switchboard reassign --conversation ID (--to HANDLE | --to-skill SKILL | --unassign)`
struct Reassign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move one conversation to a sender, to a skill or a team (escalation), or unassign it.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var batch: BatchOptions
    @Option(help: "Conversation id.") var conversation: Int64
    @Option(help: "The active sender to receive it.") var to: String?
    @Option(help: "Escalate: the least-loaded available sender with this skill receives it.") var toSkill: String?
    @Option(help: "Escalate: the least-loaded available sender of this team receives it.") var toTeam: String?
    @Flag(help: "Return it to the unassigned pool.") var unassign = false
    @Option(help: "Check that the conversation belongs to this campaign.") var campaign: Int64?

    func validate() throws {
        if [to != nil, toSkill != nil, toTeam != nil, unassign].filter({ $0 }).count != 1 {
            throw ValidationError("Give exactly one of --to HANDLE, --to-skill SKILL, --to-team TEAM or --unassign.")
        }
    }

    func run() async throws {
        let result = try await options.withBackend(idempotencyKey: batch.idempotencyKey) { backend in
            let actor = try batch.actor(backend)
            if let toTeam {
                return try await backend.escalate(conversationID: conversation, toTeam: toTeam, actor: actor,
                                                  dryRun: batch.dryRun, note: batch.note)
            }
            if let toSkill {
                return try await backend.escalate(conversationID: conversation, skill: toSkill, actor: actor,
                                                  dryRun: batch.dryRun, note: batch.note)
            }
            return try await backend.reassign(conversationID: conversation, to: to, actor: actor, dryRun: batch.dryRun,
                                              note: batch.note, campaignID: campaign)
        }
        try options.emit(result)
    }
}

/// `switchboard undo --batch ID [--yes]`
struct Undo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reverse a batch, for the conversations whose assignee is still what it set.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var batch: BatchOptions
    @Option(name: .customLong("batch"), help: "Batch id.") var batchID: Int64
    @Flag(help: "Do not ask; confirm up front.") var yes = false

    func run() async throws {
        let result = try await options.withBackend(idempotencyKey: batch.idempotencyKey) { backend in
            let actor = try batch.actor(backend)
            if !batch.dryRun {
                let found = try await backend.batch(id: batchID)
                try options.confirm("This reverses batch \(batchID) (\(found.kind), \(found.moved) moved, by \(found.actor)).",
                                    expected: "undo", yes: yes)
            }
            return try await backend.undo(batchID: batchID, actor: actor, dryRun: batch.dryRun, note: batch.note)
        }
        try options.emit(result)
    }
}

/// `switchboard history (--batch ID | --conversation ID | --campaign C)`
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a batch, a conversation's moves, or a campaign's batches.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "A batch and its moves.") var batch: Int64?
    @Option(help: "Every move of one conversation.") var conversation: Int64?
    @Option(help: "A campaign's batches, newest first.") var campaign: Int64?
    @Option(help: "At most this many rows.") var limit = 100

    func validate() throws {
        if [batch, conversation, campaign].compactMap({ $0 }).count != 1 {
            throw ValidationError("Give exactly one of --batch, --conversation or --campaign.")
        }
    }

    func run() async throws {
        let options = options
        try await options.withBackend { backend in
            if let batch {
                let found = try await backend.batchChanges(id: batch, limit: limit)
                try options.emit(found) { History.describe([found.batch]) + "\n" + History.describe(found.changes) }
            } else if let conversation {
                let found = try await backend.conversationHistory(id: conversation)
                try options.emit(found) { History.describe(found.changes) }
            } else if let campaign {
                let found = try await backend.campaignHistory(id: campaign, limit: limit)
                try options.emit(found) { History.describe(found.batches) }
            }
        }
    }

    static func describe(_ batches: [HistoryService.Batch]) -> String {
        table(["BATCH", "KIND", "ACTOR", "STATUS", "MATCHED", "MOVED", "UNCHANGED", "AT", "UNDO", "NOTE"], batches.map {
            [String($0.id), $0.kind, $0.actor, $0.statusFilter, String($0.matched), String($0.moved),
             String($0.unchanged), ISO8601DateFormatter().string(from: $0.createdAt),
             $0.undoneBy.map { "undone by \($0)" } ?? $0.undoes.map { "undoes \($0)" } ?? "", $0.note ?? ""]
        })
    }

    static func describe(_ changes: [HistoryService.Change]) -> String {
        table(["BATCH", "CONVERSATION", "KIND", "FROM", "TO", "ACTOR"], changes.map {
            [String($0.batchID), String($0.conversationID), $0.kind, $0.from ?? "(unassigned)", $0.to ?? "(unassigned)",
             $0.actor]
        })
    }
}
