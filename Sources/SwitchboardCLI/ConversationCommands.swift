import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard contacts import --campaign C FILE.csv`
struct Contacts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load contacts into a campaign.",
                                                    subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import a CSV (header: phone,name; more columns are kept as fields), all rows or none.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Campaign id.") var campaign: Int64
        @Argument(help: "The CSV file.") var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw SwitchboardError(.invalid, "unreadable_file", "File '\(file)' cannot be read.")
            }
            let progress = Progress(enabled: options.showsProgress)
            let imported = try await options.withBackend { backend in
                try await backend.importContacts(campaignID: campaign, data: data, fileName: file) {
                    progress.update("Sent \($0) rows…")
                }
            }
            progress.finish()
            struct Output: Encodable { let campaign_id: Int64; let imported: Int }
            try options.emit(Output(campaign_id: campaign, imported: imported)) {
                "Imported \(imported) contacts into campaign \(campaign)."
            }
        }
    }
}

/// `switchboard conversations --campaign C [--assignee H | --unassigned] [--status S] [--limit N]`
struct Conversations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a campaign's conversations, oldest first.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Campaign id.") var campaign: Int64
    @Option(help: "Only this sender's conversations.") var assignee: String?
    @Flag(help: "Only unassigned conversations.") var unassigned = false
    @Option(help: "Only this status (not-started, needs-reply, waiting, closed, opted-out).") var status: String?
    @Option(help: "At most this many (1–1000).") var limit = 100
    @Option(help: "Continue after this cursor (printed by the previous page).") var cursor: String?
    @OptionGroup var selection: SelectionOptions

    func validate() throws {
        if assignee != nil && unassigned {
            throw ValidationError("Give --assignee or --unassigned, not both.")
        }
    }

    func run() async throws {
        let filter: ConversationService.AssigneeFilter =
            unassigned ? .unassigned : assignee.map { .sender($0) } ?? .anyone
        let status = try status.map { text throws(SwitchboardError) -> ConversationStatus in
            guard let status = try StatusFilter(parsing: text).status else {
                throw SwitchboardError(.invalid, "invalid_status", "Status 'any' is not a status; omit --status to list all.")
            }
            return status
        }
        let narrowing = try selection.filter()
        let page = try await options.withBackend { backend in
            try await backend.conversations(campaignID: campaign, assignee: filter, status: status, filter: narrowing,
                                            limit: limit, cursor: cursor)
        }
        struct Output: Encodable { let conversations: [Conversation]; let next_cursor: String? }
        try options.emit(Output(conversations: page.conversations, next_cursor: page.nextCursor)) {
            let rows: [[String]] = page.conversations.map { conversation -> [String] in
                [String(conversation.id), conversation.phone, conversation.name, conversation.status.filterName,
                 conversation.assignee ?? "-", conversation.unread ? "yes" : ""]
            }
            var text = table(["ID", "PHONE", "NAME", "STATUS", "ASSIGNEE", "UNREAD"], rows)
            if let next = page.nextCursor { text += "\nMore: --cursor \(next)" }
            return text
        }
    }
}
