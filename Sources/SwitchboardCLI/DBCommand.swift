import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardLocalCluster

/// `switchboard db start|stop|status|url`: the embedded local PostgreSQL cluster.
struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Manage the embedded local PostgreSQL cluster.",
        subcommands: [Start.self, Stop.self, Status.self, URLCommand.self, Destroy.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create (if needed) and start the local cluster.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {

            try options.requireDirect()
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

            try options.requireDirect()
            let cluster = EmbeddedCluster.forProject()
            try cluster.stop()
            try options.emit(JSONObject(["running": .bool(false), "directory": .string(cluster.directory.path)])) {
                "PostgreSQL in \(cluster.directory.path) is stopped."
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether the local cluster runs, and where it is; list stray clusters in the temp directory.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {

            try options.requireDirect()
            let cluster = EmbeddedCluster.forProject()
            let running = try cluster.isRunning()
            let url = cluster.isInitialized ? try cluster.url().description : nil
            let strays = EmbeddedCluster.strays().filter { $0.directory.path != cluster.directory.path }
            let strayList = JSONValue.array(strays.map { stray in
                .object(["directory": .string(stray.directory.path), "running": .bool((try? stray.isRunning()) ?? false)])
            })
            try options.emit(JSONObject(["running": .bool(running), "initialized": .bool(cluster.isInitialized),
                                         "directory": .string(cluster.directory.path), "url": .string(url),
                                         "strays": strayList])) {
                var lines = [cluster.isInitialized
                    ? "PostgreSQL in \(cluster.directory.path) is \(running ? "running" : "stopped") (\(url ?? ""))."
                    : "No local cluster yet; it will be made in \(cluster.directory.path)."]
                for stray in strays {
                    let state = ((try? stray.isRunning()) ?? false) ? "running" : "stopped"
                    lines.append("Stray cluster (\(state)): \(stray.directory.path); remove it with "
                                 + "'switchboard db destroy --directory \(stray.directory.path)'.")
                }
                return lines.joined(separator: "\n")
            }
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop the local cluster and delete its data (asks first).")
        @OptionGroup var options: GlobalOptions

        @Option(help: "A stray cluster's folder (from 'db status') instead of this project's.")
        var directory: String?

        @Flag(help: "Do not ask; confirm up front.")
        var yes = false

        func run() async throws {

            try options.requireDirect()
            let cluster: EmbeddedCluster
            if let directory {
                let path = URL(fileURLWithPath: directory).standardizedFileURL.path
                guard let stray = EmbeddedCluster.strays().first(where: { $0.directory.standardizedFileURL.path == path })
                else {
                    throw SwitchboardError(.invalid, "unknown_cluster",
                                           "'\(directory)' is not a Switchboard cluster listed by 'switchboard db status'.")
                }
                cluster = stray
            } else {
                cluster = EmbeddedCluster.forProject()
            }
            guard FileManager.default.fileExists(atPath: cluster.directory.path) else {
                throw SwitchboardError(.invalid, "unknown_cluster", "There is no local cluster in \(cluster.directory.path).")
            }
            try askToConfirm("This stops PostgreSQL in \(cluster.directory.path) and deletes all of its data.",
                             expected: "destroy", yes: yes)
            try cluster.destroy()
            try options.emit(JSONObject(["destroyed": .bool(true), "directory": .string(cluster.directory.path)])) {
                "Deleted the local cluster in \(cluster.directory.path)."
            }
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "url",
                                                        abstract: "Print the local cluster's URL, password included.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {

            try options.requireDirect()
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

        try options.requireDirect()
        let (url, _) = try options.resolveURL()
        let applied = try await Database.withDatabase(url: url) { try await Migrator.bundled().migrate($0) }
        struct Output: Encodable { let applied: [String] }
        try options.emit(Output(applied: applied)) {
            applied.isEmpty ? "The schema is up to date." : "Applied \(applied.joined(separator: ", "))."
        }
    }
}
