import ArgumentParser
import Foundation
import PostgresNIO
import SwitchboardCore

/// `switchboard message --conversation ID --direction in|out [--sender H] [--leave-unassigned] --body TEXT`
struct Message: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record a message; it drives the conversation's status.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Conversation id.") var conversation: Int64?
    @Option(help: "With --phone: address the conversation by campaign and phone (as a carrier webhook does).")
    var campaign: Int64?
    @Option(help: "The contact's phone, with --campaign.") var phone: String?
    @Option(help: "in (from the contact) or out (from a sender).") var direction: String
    @Option(help: "The sender of an outbound message.") var sender: String?
    @Flag(help: "Reply without becoming the assignee of an unassigned conversation.") var leaveUnassigned = false
    @Option(help: "The text (1–1600 characters).") var body: String

    func validate() throws {
        if (conversation != nil) == (campaign != nil && phone != nil) || (campaign != nil) != (phone != nil) {
            throw ValidationError("Give --conversation ID, or --campaign C with --phone P.")
        }
    }

    func run() async throws {
        let direction = try MessageService.Direction(parsing: direction)
        let address: MessageService.Address = conversation.map { .conversation($0) }
            ?? .phone(campaignID: campaign!, phone: phone!)
        let recorded = try await options.withBackend { backend in
            try await backend.message(address, direction: direction, body: body, sender: sender,
                                      leaveUnassigned: leaveUnassigned)
        }
        struct Output: Encodable { let message_id: Int64; let conversation: Conversation; let claim_batch_id: Int64? }
        try options.emit(Output(message_id: recorded.messageID, conversation: recorded.conversation,
                                claim_batch_id: recorded.claimBatchID)) {
            let c = recorded.conversation
            return "Message \(recorded.messageID) recorded; conversation \(c.id) is \(c.status.filterName), "
                + "assigned to \(c.assignee ?? "nobody")."
        }
    }
}

/// `switchboard close --conversation ID [--sender H]`
struct Close: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close a conversation (resolved).")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Conversation id.") var conversation: Int64
    @Option(help: "The sender closing it.") var sender: String?

    func run() async throws {
        let closed = try await options.withBackend { backend in
            try await backend.close(conversationID: conversation, sender: sender)
        }
        try options.emit(closed) { "Conversation \(closed.id) is closed." }
    }
}

/// `switchboard mark-read --conversation ID --sender H`: the assignee opened it (clears `unread`).
struct MarkRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mark-read",
                                                    abstract: "Mark a conversation read, as its assignee opening it.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Conversation id.") var conversation: Int64
    @Option(help: "The sender opening it (only its assignee clears the mark).") var sender: String

    func run() async throws {
        let opened = try await options.withBackend { try await $0.markRead(conversationID: conversation, sender: sender) }
        try options.emit(opened) {
            opened.unread ? "Conversation \(opened.id) stays unread: \(sender) is not its assignee."
                : "Conversation \(opened.id) is read."
        }
    }
}

/// `switchboard queue --sender H [--campaign C] [--status S|open|unread]`, or `--unassigned --campaign C`
struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A sender's 'Assigned to Me' queue, or a campaign's unassigned view, newest activity first.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Organization id or name (with --sender, directly; over the API it is the token's).") var org: String?
    @Option(help: "The sender.") var sender: String?
    @Flag(help: "The campaign's unassigned conversations.") var unassigned = false
    @Option(help: "Only this campaign.") var campaign: Int64?
    @Option(help: "A status, open, or unread.") var status: String?
    @Option(help: "At most this many (1–1000).") var limit = 100
    @Option(help: "Continue after this cursor.") var cursor: String?

    func validate() throws {
        if unassigned == (sender != nil) { throw ValidationError("Give --sender HANDLE or --unassigned.") }
        if unassigned && campaign == nil { throw ValidationError("--unassigned needs --campaign.") }
    }

    func run() async throws {
        _ = try ConversationService.QueueFilter(parsing: status)
        let page = try await options.withBackend { backend in
            try await backend.queue(sender: sender, org: org, campaignID: campaign, status: status, limit: limit,
                                    cursor: cursor)
        }
        struct Output: Encodable { let conversations: [Conversation]; let next_cursor: String? }
        try options.emit(Output(conversations: page.conversations, next_cursor: page.nextCursor)) {
            let rows: [[String]] = page.conversations.map { c in
                let unread = c.unread ? "yes" : ""
                return [String(c.id), String(c.campaignID), c.phone, c.status.filterName, c.assignee ?? "-", unread]
            }
            var text = table(["ID", "CAMPAIGN", "PHONE", "STATUS", "ASSIGNEE", "UNREAD"], rows)
            if let next = page.nextCursor { text += "\nMore: --cursor \(next)" }
            return text
        }
    }
}

/// `switchboard export --campaign C`
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a campaign's conversations as CSV to stdout: every one, or those the options select.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(help: "Only this status (not-started, needs-reply, waiting, closed, opted-out).") var status: String?
    @OptionGroup var selection: SelectionOptions

    func run() async throws {
        let status = try status.flatMap { try StatusFilter(parsing: $0).status }
        let filter = try selection.filter()
        try await options.withBackend { backend in
            try await backend.export(campaignID: campaign, status: status, filter: filter) { print($0) }
        }
    }
}

/// `switchboard watch --sender H [--org ORG]`
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print assignment notifications (to or away from a sender) as they arrive; Ctrl-C stops.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Only this sender's notifications (with --server: the token's user's, always).") var sender: String?
    @Option(help: "Only this organization (id).") var org: Int64?

    func run() async throws {
        let options = options
        try await options.withBackend { backend in
            try await backend.requireSelf(sender)
            try await backend.watch { event in
                if let sender, event.sender != sender { return }
                if let org, event.orgID != org { return }
                let json = options.json ? try String(decoding: JSONEncoder.switchboard.encode(event), as: UTF8.self) : nil
                let line = json ?? event.batchID.map {
                    "batch \($0) (\(event.kind)) campaign \(event.campaignID): \(event.sender) +\(event.received) -\(event.removed)"
                } ?? "\(event.kind) on conversation \(event.conversationID ?? 0) campaign \(event.campaignID): \(event.sender)"
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
    }
}
