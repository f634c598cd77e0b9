import ArgumentParser
import Foundation
import SwitchboardBench
import SwitchboardCore
import SwitchboardLocalCluster

extension Benchmark.Scenario: ExpressibleByArgument {}

/// `switchboard bench [--quick] [--conversations N] [--senders M]`
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the operations on a synthetic campaign in a throwaway database, against a floor and a peer.")
    @OptionGroup var options: GlobalOptions
    @Flag(help: "About 50,000 conversations and short self-assign runs.") var quick = false
    @Option(help: "Conversations in the campaign (default 1,000,000).") var conversations: Int?
    @Option(help: "Senders (default 1,000).") var senders: Int?
    @Option(help: "Runs per timed scenario (median reported).") var runs: Int?
    @Option(help: "Run only this scenario: reassign-all (with the two floors and the peer), self-assign, console (the web console's pages over HTTP), others (sender list, single reassign, message ingest, import), routing (inbound replies, manual against least loaded), selection (a preview by tag and age, the filtered run against the same number unfiltered, the console's filtered list), or report (the campaign report over a texting history).")
    var only: Benchmark.Scenario?

    func run() async throws {

        try options.requireDirect()
        var settings = Benchmark.Options(quick: quick)
        if let conversations { settings.conversations = conversations }
        if let senders { settings.senders = senders }
        if let runs { settings.runs = runs }
        settings.only = only
        guard settings.conversations >= 10, settings.senders >= 2, settings.runs >= 1 else {
            throw SwitchboardError(.invalid, "invalid_bench", "Use at least 10 conversations, 2 senders and 1 run.")
        }
        let url: DatabaseURL
        let throwaway: Bool
        var own: (server: DatabaseURL, name: String)?
        if let text = options.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty {
            let given = try DatabaseURL(parsing: text)
            let name = try await Self.createOwnDatabase(beside: given)
            own = (given, name)
            url = given.with(database: name)
            throwaway = false
        } else {
            url = try EmbeddedCluster.throwaway(label: "bench").1
            throwaway = true
        }
        var report: Benchmark.Report
        do {
            report = try await measure(url, settings)
        } catch {
            if let own { await Self.dropOwnDatabase(own.name, on: own.server) }
            throw error
        }
        if let own { await Self.dropOwnDatabase(own.name, on: own.server) }
        if !throwaway {
            report.note = "database \(url.database) on the server of DATABASE_URL, dropped after; times in seconds, latencies in milliseconds"
        }
        try options.emit(report) { Bench.describe(report) }
    }

    func measure(_ url: DatabaseURL, _ settings: Benchmark.Options) async throws -> Benchmark.Report {
        let json = options.json
        return try await Database.withDatabase(url: url, maximumConnections: 120) { database in
            try await Migrator.bundled().migrate(database)
            let log: @Sendable (String) -> Void = { line in
                if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            let benchmark = Benchmark(database: database, options: settings, log: log)
            guard settings.only == .console else { return try await benchmark.run() }
            var report = Benchmark.Report(conversations: settings.conversations, senders: settings.senders,
                                          cores: ProcessInfo.processInfo.activeProcessorCount)
            report.latencies = try await ConsoleBench.run(database, benchmark, requests: settings.senderListCalls / 4,
                                                          log: log)
            return report
        }
    }

    /// Bench loads a million rows, creates tables and runs CHECKPOINT and VACUUM: never in a database that holds
    /// anyone's data. It refuses a database with any organization in it, and otherwise works in a database of its
    /// own (`switchboard_bench_*`) on the same server, which it drops afterwards.
    static func createOwnDatabase(beside url: DatabaseURL) async throws -> String {
        try await Database.withDatabase(url: url, maximumConnections: 1) { database in
            let holds = try await database.query("SELECT to_regclass('organizations') IS NOT NULL")
            if try holds[0].decode(Bool.self) {
                let organizations = try await database.query("SELECT count(*) FROM organizations")[0].decode(Int.self)
                if organizations > 0 {
                    throw SwitchboardError(.invalid, "bench_refused",
                                           "The database at \(url) holds \(organizations == 1 ? "an organization" : "\(organizations) organizations"); bench runs only in a database of its own, so nothing was changed.")
                }
            }
            let name = "switchboard_bench_\(ConsoleAuth.randomToken(bytes: 6))"
            try await database.query("CREATE DATABASE \(unescaped: name)")
            return name
        }
    }

    static func dropOwnDatabase(_ name: String, on server: DatabaseURL) async {
        _ = try? await Database.withDatabase(url: server, maximumConnections: 1) { database in
            try await database.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)")
        }
    }

    static func describe(_ r: Benchmark.Report) -> String {
        func f(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
        var lines = ["Switchboard bench: \(r.conversations) conversations, \(r.senders) senders, \(r.cores) cores (\(r.note))", ""]
        // A scenario run alone (--only) leaves the other sections empty: they are not printed.
        if !r.timings.isEmpty {
            lines.append(table(["SCENARIO", "MEDIAN s", "RUNS s"], r.timings.map {
                [$0.name, f($0.median), $0.runs.map { f($0) }.joined(separator: " ")]
            }))
            lines.append("")
            lines.append(r.ratios.sorted { $0.key < $1.key }.map { "\($0.key): \(f($0.value))" }.joined(separator: "   "))
            lines.append("peak memory of this process during Reassign All: \(f(r.peakMemoryMiB, 1)) MiB")
            lines.append("")
        }
        if !r.latencies.isEmpty {
            lines.append(table(["LATENCY", "COUNT", "P50 ms", "P99 ms"], r.latencies.map {
                [$0.name, String($0.count), f($0.p50), f($0.p99)]
            }))
            lines.append("")
        }
        if !r.selfAssign.isEmpty {
            lines.append(table(["SELF-ASSIGN", "REQUESTERS", "REQUESTS", "REQ/S", "P50 ms", "P99 ms", "DOUBLE GRANTS"],
                               r.selfAssign.map {
                [$0.strategy, String($0.requesters), String($0.requests), f($0.perSecond, 0), f($0.p50), f($0.p99),
                 String($0.doubleGrants)]
            }))
        }
        if !r.routing.isEmpty {
            if !r.selfAssign.isEmpty { lines.append("") }
            lines.append(table(["ROUTING", "REPLIES", "WRITERS", "SECONDS", "REPLIES/S", "P50 ms", "P99 ms", "LOADS", "ROUTED TWICE"],
                               r.routing.map {
                [$0.policy, String($0.replies), String($0.writers), f($0.seconds), f($0.perSecond, 0), f($0.p50), f($0.p99),
                 $0.policy == "manual" ? "-" : "\($0.minLoad)–\($0.maxLoad)", String($0.routedTwice)]
            }))
            if let manual = r.routing.first(where: { $0.policy == "manual" }),
               let routed = r.routing.first(where: { $0.policy != "manual" }) {
                lines.append("least_loaded over manual (throughput): \(f(routed.perSecond / manual.perSecond))   "
                             + "least_loaded p99 over p50: \(f(routed.p99 / routed.p50))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
