import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard campaign create|show|set|invite`
struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "campaign", abstract: "Manage campaigns.",
                                                    subcommands: [Create.self, List.self, Show.self, Set.self, Invite.self])

    /// `campaign invite --campaign C [--days N] [--base-url URL]`, `--list`, or `--revoke ID`.
    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a campaign invite link (prints its URL once), list the links, or revoke one.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Option(help: "Days until the link expires (1–365).") var days = InviteService.defaultDays
        @Option(help: "The console's address, as volunteers reach it.") var baseURL = "http://127.0.0.1:8080"
        @Option(help: "Revoke this invite (its id, from --list).") var revoke: Int64?
        @Flag(help: "List the campaign's invite links.") var list = false
        @Option(help: "Recorded as the link's creator (default: the OS user).") var actor: String?

        struct Created: Encodable {
            let id: Int64
            let campaignID: Int64
            let url: String
            let expiresAt: Date
            enum CodingKeys: String, CodingKey { case id, campaignID = "campaign_id", url, expiresAt = "expires_at" }
        }

        func run() async throws {
            let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw SwitchboardError(.invalid, "invalid_base_url", "Base URL '\(baseURL)' is not an http(s) address.")
            }
            let actor = self.actor ?? ProcessInfo.processInfo.userName
            if let revoke {
                let invite = try await options.withDatabase { try await InviteService($0).revoke(id: revoke) }
                guard invite.campaignID == campaign else {
                    throw SwitchboardError(.notFound, "unknown_invite", "Invite \(revoke) is not one of campaign \(campaign)'s.")
                }
                return try options.emit(invite) { "Invite \(invite.id) is revoked; it creates nothing from now on." }
            }
            if list {
                let invites = try await options.withBackend { try await $0.invites(campaignID: campaign) }
                return try options.emit(Listing("invites", invites)) {
                    invites.isEmpty ? "Campaign \(campaign) has no invite links." : table(
                        ["ID", "STATE", "EXPIRES", "JOINED", "BY"],
                        invites.map { [String($0.id), $0.isLive ? "live" : $0.revokedAt != nil ? "revoked" : "expired",
                                       Words.date($0.expiresAt), String($0.joined), $0.createdBy] })
                }
            }
            let (invite, token) = try await options.withDatabase {
                try await InviteService($0).create(campaignID: campaign, days: days, actor: actor)
            }
            let created = Created(id: invite.id, campaignID: campaign, url: "\(base)/join/\(token)", expiresAt: invite.expiresAt)
            try options.emit(created) {
                "Invite \(invite.id) for campaign \(campaign), until \(invite.expiresAt) (shown once):\n\(created.url)"
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a campaign.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "The campaign's name.") var name: String
        @Flag(help: "Let texters request conversations themselves.") var selfAssign = false
        @Option(help: "Conversations per self-assign request (1–5000).") var batchSize = SelfAssignSettings.defaultBatchSize
        @Option(help: "Cap on a sender's open conversations for self-assign.") var maxOpen: Int?
        @Flag(help: "Let a sender request more while still holding not-started conversations.")
        var noRequireFinishedBatch = false

        func run() async throws {
            let settings = SelfAssignSettings(selfAssign: selfAssign, batchSize: batchSize, maxOpen: maxOpen,
                                              requireFinishedBatch: !noRequireFinishedBatch)
            try settings.validate()
            let campaign = try await options.withBackend {
                try await $0.createCampaign(org: org, name: name, settings: settings)
            }
            try options.emit(campaign) { "Created campaign \(campaign.id) '\(campaign.name)'." }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a campaign and its settings.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Campaign id.") var campaign: Int64

        func run() async throws {
            let found = try await options.withBackend { try await $0.campaign(id: campaign) }
            try options.emit(found) { CampaignCommand.describe(found) }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a campaign's self-assign settings.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Campaign id.") var campaign: Int64
        @Option(help: "Self-assign on or off (true/false).") var selfAssign: Bool?
        @Option(help: "Conversations per self-assign request (1–5000).") var batchSize: Int?
        @Option(help: "Cap on a sender's open conversations.") var maxOpen: Int?
        @Flag(help: "Remove the cap on open conversations.") var noMaxOpen = false
        @Option(help: "Refuse requests while the sender holds not-started conversations (true/false).")
        var requireFinishedBatch: Bool?
        @Option(help: "Who receives a reply nobody owns: manual, round_robin, least_loaded or skill.")
        var routingPolicy: String?
        @Option(help: "What the skill policy does when nobody with the skills can take it: manual, round_robin or least_loaded.")
        var routingFallback: String?
        @Option(help: "Release replies waiting on their assignee longer than this many minutes, and route them again.")
        var releaseStaleAfter: Int?
        @Flag(help: "Stop releasing stale replies.") var noReleaseStale = false
        @Flag(inversion: .prefixedNo, help: "Hold each Request Conversations for an organizer's approval.")
        var requestApproval: Bool?
        @Option(help: "Only these teams' members may be added, join or request (comma-separated; '' lifts the limit).")
        var teams: String?
        @Option(help: "Routing picks only among this team's senders.") var routingTeam: String?
        @Flag(help: "Routing picks among every sender again.") var noRoutingTeam = false

        func run() async throws {
            let policy = try routingPolicy.map { try RoutingPolicy(parsing: $0) }
            let fallback = try routingFallback.map { try RoutingPolicy(parsing: $0) }
            var change = CampaignChange(selfAssign: selfAssign, batchSize: batchSize, maxOpen: maxOpen,
                                        clearMaxOpen: noMaxOpen, requireFinishedBatch: requireFinishedBatch,
                                        policy: policy, fallback: fallback, releaseStaleAfter: releaseStaleAfter,
                                        clearReleaseStale: noReleaseStale)
            change.requestApproval = requestApproval
            change.teams = teams.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            change.routingTeam = routingTeam
            change.clearRoutingTeam = noRoutingTeam
            if routingTeam != nil && noRoutingTeam {
                throw ValidationError("Give at most one of --routing-team TEAM and --no-routing-team.")
            }
            let updated = try await options.withBackend { try await $0.updateCampaign(id: campaign, change) }
            try options.emit(updated) { CampaignCommand.describe(updated) }
        }
    }

    static func describe(_ campaign: Campaign) -> String {
        let settings = campaign.settings
        return """
            Campaign \(campaign.id) '\(campaign.name)' (organization \(campaign.orgID))
              self-assign: \(settings.selfAssign ? "on" : "off"), batch size \(settings.batchSize), \
            max open \(settings.maxOpen.map(String.init) ?? "none"), \
            require finished batch: \(settings.requireFinishedBatch ? "yes" : "no")
              routing: \(campaign.routing.policy.rawValue)\(campaign.routing.policy == .skill ? " (else \(campaign.routing.fallback.rawValue))" : ""), \
            release stale replies: \(campaign.routing.releaseStaleAfter.map { "after \($0) minutes" } ?? "off")\
            \(campaign.routingTeam.map { " within team \($0)" } ?? "")
              teams: \(campaign.teams.isEmpty ? "anyone may send" : campaign.teams.joined(separator: ", ")), \
            request approval: \(campaign.requestApproval ? "on" : "off")
            """
    }
}

/// `switchboard sender add|deactivate`
struct Sender: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage a campaign's sender list.",
                                                    subcommands: [Add.self, List.self, Deactivate.self, Away.self, Available.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add users of the campaign's organization as senders.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Argument(help: "Handles.") var handles: [String]

        func run() async throws {
            try await options.withBackend { try await $0.addSenders(campaignID: campaign, handles: handles) }
            struct Output: Encodable { let campaign_id: Int64; let added: [String] }
            try options.emit(Output(campaign_id: campaign, added: handles)) {
                "Added \(handles.joined(separator: ", ")) to campaign \(campaign)."
            }
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a sender from receiving or requesting conversations; they keep the ones they hold.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Argument(help: "Handle.") var handle: String

        func run() async throws {
            try await options.withBackend { try await $0.deactivateSender(campaignID: campaign, handle: handle) }
            struct Output: Encodable { let campaign_id: Int64; let deactivated: String }
            try options.emit(Output(campaign_id: campaign, deactivated: handle)) {
                "Deactivated \(handle) on campaign \(campaign); their conversations stay with them."
            }
        }
    }
}

extension Sender {
    struct Away: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark a sender away: routing gives them nothing (they may still request more themselves).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Argument(help: "Handle.") var handle: String

        func run() async throws { try await setAvailability(options, campaign: campaign, handle: handle, available: false) }
    }

    struct Available: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a sender available to routing again.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Argument(help: "Handle.") var handle: String

        func run() async throws { try await setAvailability(options, campaign: campaign, handle: handle, available: true) }
    }

    static func setAvailability(_ options: GlobalOptions, campaign: Int64, handle: String, available: Bool) async throws {
        try await options.withBackend {
            try await $0.setAvailability(campaignID: campaign, handle: handle, available: available)
        }
        struct Output: Encodable { let campaign_id: Int64; let handle: String; let available: Bool }
        try options.emit(Output(campaign_id: campaign, handle: handle, available: available)) {
            "\(handle) is \(available ? "available" : "away") on campaign \(campaign)."
        }
    }
}

/// `switchboard senders --campaign C`
struct Senders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The sender list with conversation counts.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64

    func run() async throws {
        let list = try await options.withBackend { try await $0.senders(campaignID: campaign) }
        try options.emit(list) {
            func row(_ handle: String, _ active: String, _ available: String, _ counts: StatusCounts,
                     _ skills: [String]) -> [String] {
                [handle, active, available, String(counts.total)] + ConversationStatus.allCases.map { String(counts[$0]) }
                    + [skills.joined(separator: ",")]
            }
            let header = ["SENDER", "ACTIVE", "AVAILABLE", "TOTAL", "NOT STARTED", "NEEDS REPLY", "WAITING", "CLOSED",
                          "OPTED OUT", "SKILLS"]
            let rows = list.senders.map { row($0.handle, $0.active ? "yes" : "no", $0.available ? "yes" : "away", $0.counts, $0.skills) }
                + [row("(unassigned)", "", "", list.unassigned, [])]
            return table(header, rows) + "\nRouting backlog: \(list.unassigned[.needsReply]) replies nobody owns."
        }
    }
}
