import ArgumentParser
import Foundation
import PostgresNIO
import SwitchboardCore

/// The `switchboard` command.
public struct Switchboard: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Who owns each conversation of a peer-to-peer texting campaign, and moving that ownership safely.",
        subcommands: [
            DB.self, Migrate.self, Serve.self, Org.self, UserCommand.self, Token.self, CampaignCommand.self,
            Sender.self, Senders.self, Contacts.self, Conversations.self, ReassignAll.self, ReassignSome.self,
            UnassignAll.self, Reassign.self, History.self, Undo.self, RequestMore.self, Release.self, Message.self, Close.self, MarkRead.self, Queue.self, Export.self,
            Watch.self, Skill.self, Tag.self, TeamCommand.self, Requests.self, ReportCommand.self, Handoff.self, ReleaseStale.self, Backlog.self, Apply.self, Login.self, Logout.self,
            Bench.self,
        ]
    )

    public init() {}

    /// Exit codes of the contract.
    public enum Exit: Int32 {
        case done = 0, failure = 1, invalid = 2, refused = 3
    }

    /// Runs the command line, mapping every failure to one sentence on stderr and the contract's exit code.
    public static func main(arguments: [String]? = nil) async -> Int32 {
        let arguments = arguments ?? Array(CommandLine.arguments.dropFirst())
        let json = arguments.contains("--json")
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return Exit.done.rawValue
        } catch let error as SwitchboardError {
            return report(error, json: json)
        } catch let stopped as Apply.Failed {
            // The report on stdout already holds the step's error; stderr gets its sentence, as for any error.
            FileHandle.standardError.write(Data((stopped.error.message + "\n").utf8))
            return exitCode(for: stopped.error).rawValue
        } catch let error as PSQLError where error.serverInfo != nil {
            let message = error.serverInfo?[.message] ?? "unknown error"
            let state = error.serverInfo?[.sqlState] ?? "?"
            return report(SwitchboardError(.unavailable, "database_error",
                                           "The database refused a statement: \(message) (SQLSTATE \(state))."), json: json)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                return Exit.done.rawValue
            }
            if code.rawValue == 64 || error is ValidationError {
                var message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                if message.hasPrefix("Error: ") { message.removeFirst(7) }
                if !message.hasSuffix(".") { message += "." }
                return report(SwitchboardError(.invalid, "usage", message), json: json)
            }
            if code.rawValue == 2 || code.rawValue == 3 { return code.rawValue }
            let message = fullMessage(for: error)
            return report(SwitchboardError(.unavailable, "failure", message.isEmpty ? "\(error)" : message), json: json)
        }
    }

    static func report(_ error: SwitchboardError, json: Bool) -> Int32 {
        FileHandle.standardError.write(Data((error.message + "\n").utf8))
        if json, let data = try? JSONEncoder.switchboard.encode(error) {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
        return exitCode(for: error).rawValue
    }

    public static func exitCode(for error: SwitchboardError) -> Exit {
        switch error.kind {
        case .invalid, .notFound: .invalid
        case .refused, .conflict, .forbidden, .unauthorized, .throttled: .refused
        case .unavailable: .failure
        }
    }
}
