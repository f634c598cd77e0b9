import ArgumentParser
import Foundation
import SwitchboardCore

/// SOURCE: `--from HANDLE`, `--from-unassigned` or `--from-anyone`, exactly one.
struct SourceOptions: ParsableArguments {
    @Option(name: .customLong("from"), help: "Take this sender's conversations.") var from: String?
    @Flag(help: "Take conversations from the unassigned pool.") var fromUnassigned = false
    @Flag(help: "Take conversations from everyone, assigned or not.") var fromAnyone = false

    func validate() throws {
        let given = [from != nil, fromUnassigned, fromAnyone].filter { $0 }.count
        if given != 1 {
            throw ValidationError("Give exactly one source: --from HANDLE, --from-unassigned or --from-anyone.")
        }
    }

    var source: Source {
        if let from { return .sender(from) }
        return fromUnassigned ? .unassigned : .anyone
    }
}

/// TARGET: `--to H[,H…]`, `--to-all` or `--to-team TEAM`, exactly one.
struct TargetOptions: ParsableArguments {
    @Option(help: "Give the conversations to these active senders, split evenly in this order (comma-separated).")
    var to: String?
    @Flag(help: "Distribute to every active sender of the campaign (by handle).") var toAll = false
    @Option(help: "Distribute to this team's active senders of the campaign (by handle).") var toTeam: String?
    @Flag(help: "Spread so the targets' open loads end up as equal as possible, instead of an even split.")
    var balance = false
    @Flag(help: "Skip targets who are away (with --to-all: only available senders).")
    var availableOnly = false

    func validate() throws {
        if [to != nil, toAll, toTeam != nil].filter({ $0 }).count != 1 {
            throw ValidationError("Give exactly one target: --to H[,H…], --to-all or --to-team TEAM.")
        }
        if let to, to.split(separator: ",", omittingEmptySubsequences: false).contains(where: { $0.isEmpty }) {
            throw ValidationError("The target list '\(to)' has an empty handle.")
        }
    }

    var target: Target {
        if let toTeam { return .team(toTeam) }
        return toAll ? .allActive : .senders(to!.split(separator: ",").map(String.init))
    }
    var distribution: Distribution { balance ? .balance : .even }
}

/// Which conversations, beyond source and status (contract, *Selection*): every option narrows.
struct SelectionOptions: ParsableArguments {
    @Option(name: .customLong("tag"), help: "Only conversations with this tag (repeatable: every one).")
    var tags: [String] = []
    @OptionGroup var narrowing: NarrowingOptions

    func filter() throws -> ConversationFilter { try narrowing.filter(tags: tags) }
}

/// The selection's options other than `--tag` (which `tag add --campaign` uses to name the tags it adds).
struct NarrowingOptions: ParsableArguments {
    @Option(name: .customLong("without-tag"), help: "Only conversations without this tag (repeatable: none of them).")
    var withoutTags: [String] = []
    @Option(help: "Only those whose last message is older than WHEN (2026-12-07T14:00:00Z, or an age: 30m, 6h, 2d).")
    var lastMessageBefore: String?
    @Option(help: "Only those whose last message is newer than WHEN.") var lastMessageAfter: String?
    @Option(name: .customLong("field"), help: "Only contacts whose imported field KEY equals VALUE (KEY=VALUE, repeatable).")
    var fields: [String] = []
    @Option(help: "Only contacts whose name or phone contains this text.") var search: String?
    @Option(help: "Only these conversations, picked by hand (ids, comma-separated).") var conversations: String?
    @Option(help: "Only the conversations listed in this file (ids separated by commas or line breaks).")
    var conversationsFile: String?

    func validate() throws {
        if conversations != nil && conversationsFile != nil {
            throw ValidationError("Give --conversations or --conversations-file, not both.")
        }
    }

    var isEmpty: Bool {
        withoutTags.isEmpty && lastMessageBefore == nil && lastMessageAfter == nil && fields.isEmpty && search == nil
            && conversations == nil && conversationsFile == nil
    }

    func filter(tags: [String] = []) throws -> ConversationFilter {
        var picked = conversations
        if let conversationsFile {
            guard let data = FileManager.default.contents(atPath: conversationsFile) else {
                throw SwitchboardError(.invalid, "unreadable_file", "File '\(conversationsFile)' cannot be read.")
            }
            picked = String(decoding: data, as: UTF8.self)
        }
        return try ConversationFilter(tags: tags, withoutTags: withoutTags, lastMessageBefore: lastMessageBefore,
                                      lastMessageAfter: lastMessageAfter, fields: fields, search: search,
                                      conversations: picked).validated()
    }
}

extension GlobalOptions {
    /// Prints a batch result in JSON or as a short report.
    func emit(_ result: BatchResult) throws {
        try emit(result) {
            let head = result.dryRun ? "Dry run: would move" : "Moved"
            var lines = ["\(head) \(result.moved) of \(result.matched) matching conversations (\(result.unchanged) unchanged, status \(result.statusFilter))."]
            if let requested = result.requested, requested > result.matched {
                lines.append("Asked for \(requested); only \(result.matched) matched.")
            }
            if let skipped = result.skipped, skipped > 0 {
                lines.append("Skipped \(skipped): their assignee changed since, or the previous sender is no longer active.")
            }
            lines += result.perSender.map { "  \($0.handle): +\($0.received)" }
            if let gone = result.noLongerMatching, gone > 0 {
                lines.append("\(gone) previewed conversations no longer matched and were left alone.")
            }
            if let token = result.previewToken {
                lines.append("Preview token \(token) (10 minutes): run again with --preview-token \(token) to move only these.")
            }
            if let batch = result.batchID { lines.append("Batch \(batch) (undo with: switchboard undo --batch \(batch))") }
            return lines.joined(separator: "\n")
        }
    }

    /// Runs `body` with a progress ticker on stderr once the operation says how many conversations it takes.
    func withProgress<T: Sendable>(_ body: (@escaping @Sendable (Int) -> Void) async throws -> T) async throws -> T {
        let progress = Progress(enabled: showsProgress)
        let started = ContinuousClock.now
        let box = TickerBox()
        defer {
            box.cancel()
            progress.finish()
        }
        return try await body { count in
            // A negative count: the server does the moving and has not said how many (remote mode).
            guard progress.enabled, count >= 20_000 || count < 0 else { return }
            box.start(Task.detached {
                if count < 0 { try? await Task.sleep(for: .seconds(2)) }
                while !Task.isCancelled {
                    let seconds = (ContinuousClock.now - started).components.seconds
                    progress.update(count < 0 ? "Waiting for the server to move them in one transaction… \(seconds)s"
                                    : "Moving \(count) conversations in one transaction… \(seconds)s")
                    try? await Task.sleep(for: .milliseconds(500))
                }
            })
        }
    }

    /// Asks the operator to type `expected` when stdin is a terminal; refuses otherwise (unless --yes).
    func confirm(_ prompt: String, expected: String, yes: Bool) throws {
        try askToConfirm(prompt, expected: expected, yes: yes)
    }
}

/// Asks the operator to type `expected` when stdin is a terminal; refuses otherwise (unless `yes`).
func askToConfirm(_ prompt: String, expected: String, yes: Bool) throws {
    if yes { return }
    guard isatty(STDIN_FILENO) != 0 else {
        throw SwitchboardError(.refused, "confirmation_required",
                               "This needs confirmation: run it in a terminal to type '\(expected)', or pass --yes.")
    }
    FileHandle.standardError.write(Data("\(prompt)\nType '\(expected)' to confirm: ".utf8))
    guard readLine()?.trimmingCharacters(in: .whitespaces) == expected else {
        throw SwitchboardError(.refused, "not_confirmed", "Not confirmed; nothing was changed.")
    }
}

/// Holds the ticker task so the progress closure can start it once.
final class TickerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<Void, Never>?

    func start(_ task: Task<Void, Never>) {
        lock.withLock {
            self.task?.cancel()
            self.task = task
        }
    }

    func cancel() { lock.withLock { task?.cancel() } }
}
