import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard team create|add|remove|list` (wave 3): an organization's named groups of users.
struct TeamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team", abstract: "Manage teams: targets of batches and escalation, routing and campaign limits.",
        subcommands: [Create.self, Add.self, Remove.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "The team's name: 1–64 of a-z, 0-9, '.', '_', '-'.") var name: String

        func run() async throws {
            let team = try await options.withBackend { try await $0.createTeam(org: org, name: name) }
            try options.emit(team) { "Created team '\(team.name)'." }
        }
    }

    /// Whose membership `add` and `remove` change: all the handles, or none of them.
    struct Members: ParsableArguments {
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "The team.") var team: String
        @Argument(help: "The users' handles.") var handles: [String]

        func change(_ options: GlobalOptions, add: Bool) async throws {
            let changed = try await options.withBackend {
                try await $0.changeTeam(org: org, team: team, handles: handles, add: add)
            }
            try options.emit(changed) { TeamCommand.describe(changed) }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put users into a team (all or none).")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var members: Members

        func run() async throws { try await members.change(options, add: true) }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take users out of a team (all or none).")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var members: Members

        func run() async throws { try await members.change(options, add: false) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an organization's teams and their members.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String

        func run() async throws {
            let teams = try await options.withBackend { try await $0.teams(org: org) }
            try options.emit(Listing("teams", teams)) {
                table(["TEAM", "MEMBERS"], teams.map { [$0.name, $0.members.isEmpty ? "-" : $0.members.joined(separator: ", ")] })
            }
        }
    }

    static func describe(_ team: TeamService.Team) -> String {
        "Team '\(team.name)': \(team.members.isEmpty ? "no members" : team.members.joined(separator: ", "))."
    }
}

/// `switchboard requests --campaign C [--status S]`, `requests approve|deny` (wave 3): Request Conversations held
/// for approval.
struct Requests: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the requests for conversations held for approval, or decide them.",
        subcommands: [List.self, Approve.self, Deny.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A campaign's requests, newest first.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Option(help: "pending, approved, denied or expired.") var status: String?

        func run() async throws {
            let status = try status.map { try RequestService.Status(parsing: $0) }
            let requests = try await options.withBackend { try await $0.requests(campaignID: campaign, status: status) }
            try options.emit(Listing("requests", requests)) {
                table(["ID", "SENDER", "ASKED", "STATUS", "MADE", "DECIDED BY", "GRANTED", "NOTE"], requests.map { request in
                    [String(request.id), request.sender, String(request.count), request.status.rawValue,
                     Words.date(request.createdAt), request.decidedBy ?? "-", request.granted.map(String.init) ?? "-",
                     request.note ?? ""]
                })
            }
        }
    }

    /// The requests a decision names: ids, or `--all --campaign C`.
    struct Chosen: ParsableArguments {
        @Argument(help: "Request ids.") var ids: [Int64] = []
        @Flag(help: "Every pending request of --campaign.") var all = false
        @Option(help: "With --all: the campaign.") var campaign: Int64?

        func validate() throws {
            if all != (campaign != nil) { throw ValidationError("--all and --campaign C go together.") }
            if all == !ids.isEmpty { throw ValidationError("Give request ids, or --all --campaign C.") }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grant requests now, under the campaign's rules (pool, cap, finished batch); the texter is told.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var chosen: Chosen
        @Option(help: "Grant this many instead of what was asked.") var count: Int?
        @Option(help: "Who is doing this, for history (refused with --server).") var actor: String?

        func run() async throws {
            let decisions = try await options.withBackend { backend in
                try await backend.approve(ids: chosen.ids, allOf: chosen.campaign, count: count,
                                          actor: try BatchOptions.actor(actor, backend))
            }
            try options.emit(Listing("requests", decisions)) {
                decisions.map { decision in
                    let request = decision.request
                    if let refusal = decision.refusal {
                        return "Request \(request.id) (\(request.sender)) stays pending: \(refusal.message)"
                    }
                    let short = (request.granted ?? 0) < request.count ? " of \(request.count) asked" : ""
                    return "Approved request \(request.id): \(request.sender) received \(request.granted ?? 0)\(short) (batch \(request.batchID.map(String.init) ?? "-"))."
                }.joined(separator: "\n")
            }
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny requests; the texter sees the note.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var chosen: Chosen
        @Option(help: "Why, for the texter (at most 500 characters).") var note: String?
        @Option(help: "Who is doing this, for history (refused with --server).") var actor: String?

        func run() async throws {
            let denied = try await options.withBackend { backend in
                try await backend.deny(ids: chosen.ids, allOf: chosen.campaign, note: note,
                                       actor: try BatchOptions.actor(actor, backend))
            }
            try options.emit(Listing("requests", denied)) {
                denied.map { "Denied request \($0.id) of \($0.sender)." }.joined(separator: "\n")
            }
        }
    }
}

/// `switchboard report --campaign C` (wave 3): per sender what they hold, sent and answered, how fast, and their
/// oldest Needs Reply; the campaign's Needs Reply ages.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "A campaign's report: per sender held, sent, replies handled, first response, oldest Needs Reply.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64

    func run() async throws {
        let report = try await options.withBackend { try await $0.report(campaignID: campaign) }
        try options.emit(report) {
            let rows = report.senders.map { sender in
                [sender.handle, String(sender.held), String(sender.sent), String(sender.repliesHandled),
                 sender.medianFirstResponseSeconds.map(ReplyTimers.words) ?? "-",
                 sender.oldestNeedsReplySeconds.map(ReplyTimers.words) ?? "-"]
            }
            return table(["SENDER", "HELD", "SENT", "REPLIES HANDLED", "MEDIAN FIRST RESPONSE", "OLDEST NEEDS REPLY"], rows)
                + "\nNeeds Reply waiting: " + report.needsReplyAge.map { "\($0.bucket) \($0.count)" }.joined(separator: ", ") + "."
        }
    }
}
