import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard db start|stop|status|url`: the embedded local PostgreSQL cluster.
struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Manage the embedded local PostgreSQL cluster.",
        subcommands: [Start.self, Stop.self, Status.self, URLCommand.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create (if needed) and start the local cluster.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let cluster = EmbeddedCluster.forProject()
            let url = try cluster.start()
            try options.emit(JSONObject(["running": .bool(true), "directory": .string(cluster.directory.path),
                                         "url": .string(url.description)])) {
                "PostgreSQL is running in \(cluster.directory.path) at \(url)."
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the local cluster.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let cluster = EmbeddedCluster.forProject()
            try cluster.stop()
            try options.emit(JSONObject(["running": .bool(false), "directory": .string(cluster.directory.path)])) {
                "PostgreSQL in \(cluster.directory.path) is stopped."
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the local cluster runs, and where it is.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let cluster = EmbeddedCluster.forProject()
            let running = try cluster.isRunning()
            let url = cluster.isInitialized ? try cluster.url().description : nil
            try options.emit(JSONObject(["running": .bool(running), "initialized": .bool(cluster.isInitialized),
                                         "directory": .string(cluster.directory.path), "url": .string(url)])) {
                guard cluster.isInitialized else { return "No local cluster yet; it will be made in \(cluster.directory.path)." }
                return "PostgreSQL in \(cluster.directory.path) is \(running ? "running" : "stopped") (\(url ?? "")."
            }
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "url",
                                                        abstract: "Print the local cluster's URL, password included.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let url = try EmbeddedCluster.forProject().url()
            try options.emit(JSONObject(["url": .string(url.connectionString)])) { url.connectionString }
        }
    }
}

/// `switchboard migrate`
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the pending schema migrations.")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let (url, _) = try options.resolveURL()
        let applied = try await Database.withDatabase(url: url) { try await Migrator.bundled().migrate($0) }
        struct Output: Encodable { let applied: [String] }
        try options.emit(Output(applied: applied)) {
            applied.isEmpty ? "The schema is up to date." : "Applied \(applied.joined(separator: ", "))."
        }
    }
}
