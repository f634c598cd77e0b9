import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import NIOCore
import SwitchboardCore
import SwitchboardServer

/// `switchboard bench --only console`: the console's pages on a big campaign, served by the real router on a
/// loopback port and fetched over HTTP by a signed-in organizer, one request at a time, so each figure is a
/// page's whole answer (queries, rendering, transfer).
enum ConsoleBench {
    static func run(_ database: Database, _ benchmark: Benchmark, requests: Int,
                    log: @escaping @Sendable (String) -> Void) async throws -> [Benchmark.Latency] {
        let (campaign, sender, organizer) = try await benchmark.consoleCampaign()
        let password = "bench-console-password"
        try await ConsoleAuth(database, cost: 4).setPassword(orgID: organizer.orgID, handle: organizer.handle,
                                                             password: password)
        let (token, _) = try await ConsoleAuth(database).signIn(organization: String(organizer.orgID),
                                                                handle: organizer.handle, password: password)
        let conversation = try await ConversationService(database).queue(
            userID: try await Directory(database).user(orgID: organizer.orgID, handle: sender).id,
            campaignID: campaign.id, limit: 1).conversations.first?.id ?? 0
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        var settings = ServerSettings(port: 0)
        settings.secureCookies = false
        let app = Application(router: buildRouter(database: database, settings: settings),
                              server: switchboardHTTPServer(),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) })
        let server = Task { try await app.run() }
        defer { server.cancel() }
        var port = 0
        for await found in ports {
            port = found
            break
        }
        let session = URLSession(configuration: .ephemeral)
        let pages = [
            ("console_overview", "/campaigns/\(campaign.id)"),
            ("console_overview_by_progress", "/campaigns/\(campaign.id)?sort=progress"),
            ("console_sender_list", "/campaigns/\(campaign.id)?sender=\(sender)"),
            ("console_sender_needs_reply", "/campaigns/\(campaign.id)?sender=\(sender)&status=needs-reply"),
            ("console_unassigned_list", "/campaigns/\(campaign.id)?sender=unassigned"),
            ("console_conversation", "/conversations/\(conversation)"),
        ]
        var latencies: [Benchmark.Latency] = []
        for (name, path) in pages {
            log("Console page \(path), \(requests) requests…")
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.setValue("sb_session=\(token)", forHTTPHeaderField: "Cookie")
            var times: [Double] = []
            for index in 0..<(requests + 3) {
                let start = ContinuousClock.now
                let (_, response) = try await session.data(for: request)
                let elapsed = ContinuousClock.now - start
                guard (response as? HTTPURLResponse)?.statusCode == 200 else {
                    throw SwitchboardError(.unavailable, "bench_failed", "Page \(path) did not answer 200.")
                }
                // The first three warm the caches and are not counted.
                if index >= 3 {
                    times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                }
            }
            times.sort()
            latencies.append(Benchmark.Latency(name: name, count: times.count, p50: times[times.count / 2],
                                               p99: times[min(times.count - 1, Int(Double(times.count) * 0.99))]))
        }
        return latencies
    }
}
