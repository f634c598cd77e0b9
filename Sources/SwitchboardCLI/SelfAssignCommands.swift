import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard request-more --campaign C --sender HANDLE [--count N]`
struct RequestMore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request-more", abstract: "A texter takes the oldest unassigned, not-started conversations (self-assign).")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(help: "The texter requesting.") var sender: String
    @Option(help: "How many (default and maximum: the campaign's batch size).") var count: Int?
    @Option(help: "Who is doing this, for history (default: the sender).") var actor: String?

    func run() async throws {
        let grant = try await options.withDatabase { database in
            try await SelfAssignService(database).requestMore(campaignID: campaign, sender: sender, count: count, actor: actor)
        }
        try options.emit(grant.result)
    }
}

/// `switchboard release --campaign C --sender HANDLE`
struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A texter hands their not-started conversations back to the unassigned pool.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(help: "The texter releasing.") var sender: String
    @Option(help: "Who is doing this, for history (default: the sender).") var actor: String?

    func run() async throws {
        let result = try await options.withDatabase { database in
            try await SelfAssignService(database).release(campaignID: campaign, sender: sender, actor: actor)
        }
        try options.emit(result)
    }
}
