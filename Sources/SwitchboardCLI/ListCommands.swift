import ArgumentParser
import Foundation
import SwitchboardCore

// Every noun an admin manages can be listed (issue 34): `--json` prints `{"<plural noun>": [...]}`, the same
// shape as the API's list routes; without it, an aligned table. Both modes, unless the noun has no route.

extension Org {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List organizations (with --server, the token's own).")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let organizations = try await options.withBackend { try await $0.organizations() }
            try options.emit(Listing("organizations", organizations)) {
                table(["ID", "NAME"], organizations.map { [String($0.id), $0.name] })
            }
        }
    }
}

extension UserCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an organization's users, by handle.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String

        func run() async throws {
            let members = try await options.withBackend { try await $0.users(org: org) }
            try options.emit(Listing("users", members)) {
                table(["HANDLE", "NAME", "ROLE", "ACTIVE", "CONSOLE", "API TOKENS"], members.map { member in
                    [member.user.handle, member.user.name, member.user.role.rawValue, member.user.active ? "yes" : "no",
                     member.hasPassword ? "can sign in" : "no password", String(member.liveTokens)]
                })
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a user's display name or role, or whether their requests are approved at once.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "The user's handle.") var handle: String
        @Option(help: "The new display name.") var name: String?
        @Option(help: "The new role: admin, organizer or texter.") var role: String?
        @Flag(inversion: .prefixedNo, help: "Grant this texter's requests at once, in campaigns that hold requests for approval.")
        var autoApprove: Bool?

        func run() async throws {
            let newRole = try role.map { text in
                guard let role = Role(rawValue: text) else {
                    throw SwitchboardError(.invalid, "invalid_role", "Role '\(text)' is unknown; use admin, organizer or texter.")
                }
                return role
            }
            let user = try await options.withDatabase { database in
                let org = try await Directory(database).organization(self.org)
                return try await Directory(database).update(orgID: org.id, handle: handle, name: name, role: newRole,
                                                            autoApprove: autoApprove)
            }
            try options.emit(user) {
                "User '\(user.handle)' is now \(user.name), \(user.role.rawValue)"
                    + (autoApprove.map { $0 ? ", requests approved at once." : ", requests wait for approval." } ?? ".")
            }
        }
    }
}

extension CampaignCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List an organization's campaigns (with a texter's token, the ones they send for).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String

        func run() async throws {
            let campaigns = try await options.withBackend { try await $0.campaigns(org: org) }
            try options.emit(Listing("campaigns", campaigns)) {
                table(["ID", "NAME", "SELF-ASSIGN", "BATCH", "MAX OPEN", "ROUTING", "CREATED"], campaigns.map { campaign in
                    [String(campaign.id), campaign.name, campaign.settings.selfAssign ? "on" : "off",
                     String(campaign.settings.batchSize), campaign.settings.maxOpen.map(String.init) ?? "-",
                     campaign.routing.policy.rawValue, Words.date(campaign.createdAt)]
                })
            }
        }
    }
}

extension Token {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List API tokens, newest first: who, when made, until when, whether revoked; never the token itself.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Option(help: "Only this user's tokens.") var user: String?

        func run() async throws {
            let tokens = try await options.withBackend { try await $0.tokens(org: org, user: user) }
            try options.emit(Listing("tokens", tokens)) {
                table(["ID", "USER", "CREATED", "EXPIRES", "STATE"], tokens.map { token in
                    [String(token.id), token.user, Words.date(token.createdAt), token.expiresAt.map(Words.date) ?? "never",
                     token.live ? "live" : token.revokedAt != nil ? "revoked" : "expired"]
                })
            }
        }
    }
}

extension Sender {
    /// `sender list --campaign C`, the same as `senders --campaign C`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The sender list with conversation counts (as 'senders').")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64

        func run() async throws {
            var senders = try Senders.parse(["--campaign", String(campaign)] + (options.json ? ["--json"] : []))
            senders.options = options
            try await senders.run()
        }
    }
}

/// Dates in tables: the UTC day and minute, as an admin reads them beside the JSON's ISO 8601.
enum Words {
    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm'Z'"
        return formatter.string(from: date)
    }
}
