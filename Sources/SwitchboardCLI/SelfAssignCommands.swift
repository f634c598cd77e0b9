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
    @Option(help: "Who is doing this, for history (default: the sender; refused with --server).") var actor: String?
    @Option(help: "With --server: the Idempotency-Key to send (default: a new one per run).") var idempotencyKey: String?

    func run() async throws {
        let (result, pending) = try await options.withBackend(idempotencyKey: idempotencyKey) { backend in
            try BatchOptions.refuseRemote(actor, backend)
            return try await backend.requestMore(campaignID: campaign, sender: sender, count: count, actor: actor)
        }
        if let pending {
            try options.emit(JSONObject(["request_id": .int(pending), "status": .string("pending")])) {
                "Request \(pending) is waiting for an organizer's approval."
            }
            return
        }
        try options.emit(result)
    }
}

/// `switchboard release --campaign C --sender HANDLE`
struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A texter hands their not-started conversations back to the unassigned pool.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(help: "The texter releasing.") var sender: String
    @Option(help: "Who is doing this, for history (default: the sender; refused with --server).") var actor: String?
    @Option(help: "With --server: the Idempotency-Key to send (default: a new one per run).") var idempotencyKey: String?

    func run() async throws {
        let result = try await options.withBackend(idempotencyKey: idempotencyKey) { backend in
            try BatchOptions.refuseRemote(actor, backend)
            return try await backend.release(campaignID: campaign, sender: sender, actor: actor)
        }
        try options.emit(result)
    }
}
