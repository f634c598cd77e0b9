import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard skill add|remove|list`
struct Skill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage senders' skills in a campaign.",
                                                    subcommands: [Add.self, Remove.self, List.self])

    struct Output: Encodable {
        let campaign_id: Int64
        let handle: String
        let skills: [String]
    }

    /// What `add` and `remove` take; `change` runs either.
    struct Arguments: ParsableArguments {
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Argument(help: "The sender's handle.") var handle: String
        @Argument(help: "Skills.") var skills: [String] = []

        func change(add: Bool) async throws {
            let held = try await options.withBackend {
                try await $0.changeSkills(campaignID: campaign, handle: handle, skills: skills, add: add)
            }
            try options.emit(Output(campaign_id: campaign, handle: handle, skills: held)) {
                held.isEmpty ? "\(handle) has no skills now." : "\(handle) now has: \(held.joined(separator: ", "))."
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a sender skills (free tags such as spanish).")
        @OptionGroup var arguments: Arguments
        func run() async throws { try await arguments.change(add: true) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take skills away from a sender.")
        @OptionGroup var arguments: Arguments
        func run() async throws { try await arguments.change(add: false) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every sender's skills in a campaign.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64

        func run() async throws {
            let skills = try await options.withBackend { try await $0.skills(campaignID: campaign) }
            struct Listed: Encodable { let campaign_id: Int64; let skills: [String: [String]] }
            try options.emit(Listed(campaign_id: campaign, skills: skills)) {
                skills.isEmpty ? "No sender of campaign \(campaign) has skills."
                    : table(["SENDER", "SKILLS"], skills.keys.sorted().map { [$0, skills[$0]!.joined(separator: ", ")] })
            }
        }
    }
}

/// `switchboard tag add|remove|list`
struct Tag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage a conversation's tags.",
                                                    subcommands: [Add.self, Remove.self, List.self])

    struct Output: Encodable {
        let conversation_id: Int64
        let tags: [String]
    }

    /// What `add` and `remove` take; `change` runs either: one conversation's tags, or (with `--campaign`) every
    /// conversation of the campaign that the status and the filters select, in one statement.
    struct Arguments: ParsableArguments {
        @OptionGroup var options: GlobalOptions
        @Option(help: "Conversation id.") var conversation: Int64?
        @Option(help: "Every matching conversation of this campaign (with --status and the filters).") var campaign: Int64?
        @Option(name: .customLong("tag"), help: "A tag (repeatable); or name the tags as arguments.") var tagOptions: [String] = []
        @Argument(help: "Tags.") var tags: [String] = []
        @Option(help: "With --campaign: only this status (not-started, needs-reply, waiting, closed, opted-out).")
        var status: String?
        @OptionGroup var narrowing: NarrowingOptions

        func validate() throws {
            guard (conversation != nil) != (campaign != nil) else {
                throw ValidationError("Give exactly one of --conversation ID and --campaign C.")
            }
            if conversation != nil && (status != nil || !narrowing.isEmpty) {
                throw ValidationError("--status and the filters select conversations of a --campaign, not of one --conversation.")
            }
        }

        struct Bulk: Encodable {
            let campaign_id: Int64
            let tags: [String]
            let added: Bool
            let changed: Int
        }

        func change(add: Bool) async throws {
            let named = tagOptions + tags
            if let campaign {
                let status = try status.flatMap { try StatusFilter(parsing: $0).status }
                let filter = try narrowing.filter()
                let changed = try await options.withBackend {
                    try await $0.changeTags(campaignID: campaign, tags: named, add: add, status: status, filter: filter)
                }
                let listed = named.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                try options.emit(Bulk(campaign_id: campaign, tags: listed, added: add, changed: changed)) {
                    "\(add ? "Tagged" : "Untagged") \(changed) conversation\(changed == 1 ? "" : "s") of campaign \(campaign) (\(listed.joined(separator: ", ")))."
                }
                return
            }
            let conversation = conversation!
            let now = try await options.withBackend {
                try await $0.changeTags(conversationID: conversation, tags: named, add: add)
            }
            try options.emit(Output(conversation_id: conversation, tags: now)) {
                now.isEmpty ? "Conversation \(conversation) has no tags now."
                    : "Conversation \(conversation) is tagged: \(now.joined(separator: ", "))."
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tag a conversation, or every matching one of a campaign (skill routing matches tags to skills).")
        @OptionGroup var arguments: Arguments
        func run() async throws { try await arguments.change(add: true) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove tags from a conversation, or from every matching one of a campaign.")
        @OptionGroup var arguments: Arguments
        func run() async throws { try await arguments.change(add: false) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A conversation's tags.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Conversation id.") var conversation: Int64

        func run() async throws {
            let tags = try await options.withBackend { try await $0.tags(conversationID: conversation) }
            try options.emit(Output(conversation_id: conversation, tags: tags)) {
                tags.isEmpty ? "Conversation \(conversation) has no tags." : tags.joined(separator: "\n")
            }
        }
    }
}

/// `switchboard handoff --campaign C --from H [--to H | --policy P] [--status S]`
struct Handoff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shift change: move a sender's open conversations to one sender or by a routing policy, and mark them away.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var batch: BatchOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(name: .customLong("from"), help: "The sender whose shift ends.") var from: String
    @Option(help: "The one sender who takes everything over.") var to: String?
    @Option(help: "Route them instead: manual (back to the pool), round_robin, least_loaded or skill (default: the campaign's).")
    var policy: String?
    @Option(help: "A team takes everything over: its active senders, split evenly in handle order.") var toTeam: String?
    @Flag(help: "With --to-team: spread so the team's open loads end up as equal as possible.") var balance = false
    @Flag(help: "With --to-team: only the team's available senders.") var availableOnly = false
    @Option(help: "any (every open conversation), not-started, needs-reply or waiting.") var status = "any"

    func validate() throws {
        if [to != nil, policy != nil, toTeam != nil].filter({ $0 }).count > 1 {
            throw ValidationError("Give at most one of --to HANDLE, --to-team TEAM and --policy POLICY.")
        }
        if (balance || availableOnly) && toTeam == nil {
            throw ValidationError("--balance and --available-only go with --to-team TEAM.")
        }
    }

    func run() async throws {
        let status = try StatusFilter(parsing: status)
        let policy = try policy.map { try RoutingPolicy(parsing: $0) }
        let result = try await options.withBackend(idempotencyKey: batch.idempotencyKey) { backend in
            var request = RoutingService.HandoffRequest(
                campaignID: campaign, from: from, to: to, policy: policy, status: status, actor: try batch.actor(backend),
                note: batch.note, dryRun: batch.dryRun)
            request.toTeam = toTeam
            request.distribution = balance ? .balance : .even
            request.availableOnly = availableOnly
            return try await backend.handoff(request)
        }
        try options.emit(result)
    }
}

/// `switchboard release-stale [--campaign C] [--dry-run]`
struct ReleaseStale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release-stale",
        abstract: "Release replies waiting on their assignee longer than the campaign allows, and route them again (for cron).")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var batch: BatchOptions
    @Option(help: "Campaign id (default: every campaign with release_stale_after set).") var campaign: Int64?

    func run() async throws {
        let results = try await options.withBackend(idempotencyKey: batch.idempotencyKey) { backend in
            try await backend.releaseStale(campaignID: campaign, actor: try batch.actor(backend), dryRun: batch.dryRun)
        }
        try options.emit(results) {
            guard !results.isEmpty else { return "No campaign releases stale replies." }
            return results.map { result in
                let head = result.dryRun ? "would release" : "released"
                var line = "Campaign \(result.campaignID): \(head) \(result.moved) stale replies"
                line += result.perSender.isEmpty ? "." : " (" + result.perSender.map { "\($0.handle) +\($0.received)" }
                    .joined(separator: ", ") + ")."
                if let batch = result.batchID { line += " Batch \(batch)." }
                return line
            }.joined(separator: "\n")
        }
    }
}

/// `switchboard backlog --campaign C`
struct Backlog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Replies nobody owns: unassigned conversations that need a reply.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(help: "List at most this many.") var limit = 100

    func run() async throws {
        let backlog = try await options.withBackend { try await $0.backlog(campaignID: campaign, limit: limit) }
        try options.emit(backlog) {
            "Campaign \(campaign) (routing \(backlog.policy.rawValue)): \(backlog.count) replies nobody owns.\n"
                + backlog.conversations.map { "  \($0.id)  \($0.phone)  \($0.name)" }.joined(separator: "\n")
        }
    }
}
