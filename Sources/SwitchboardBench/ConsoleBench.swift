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
package enum ConsoleBench {
    package static func run(_ database: Database, _ benchmark: Benchmark, requests: Int,
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
        // The sender signs in too: their messenger is what most people open.
        try await ConsoleAuth(database, cost: 4).setPassword(orgID: organizer.orgID, handle: sender, password: password)
        let (texterToken, _) = try await ConsoleAuth(database).signIn(organization: String(organizer.orgID),
                                                                      handle: sender, password: password)
        let pages = [
            ("console_overview", "/campaigns/\(campaign.id)"),
            ("console_overview_by_progress", "/campaigns/\(campaign.id)?sort=progress"),
            ("console_sender_list", "/campaigns/\(campaign.id)?sender=\(sender)"),
            ("console_sender_needs_reply", "/campaigns/\(campaign.id)?sender=\(sender)&status=needs-reply"),
            ("console_unassigned_list", "/campaigns/\(campaign.id)?sender=unassigned"),
            ("console_conversation", "/conversations/\(conversation)"),
            ("console_viewing_as", "/campaigns/\(campaign.id)/queue?as=\(sender)"),
            ("messenger_open", "/campaigns/\(campaign.id)/queue#texter"),
            ("messenger_needs_reply", "/campaigns/\(campaign.id)/queue?filter=needs-reply#texter"),
            ("messenger_unassigned", "/campaigns/\(campaign.id)/queue?filter=unassigned#texter"),
            ("messenger_conversation", "/conversations/\(conversation)#texter"),
        ]
        var latencies: [Benchmark.Latency] = []
        for (name, path) in pages {
            log("Console page \(path), \(requests) requests…")
            // `#texter`: fetched as the sender (the fragment never reaches the server).
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.setValue("sb_session=\(path.hasSuffix("#texter") ? texterToken : token)", forHTTPHeaderField: "Cookie")
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
        latencies.append(try await upload(database, benchmark, port: port, token: token, organizer: organizer, session: session,
                                          log: log))
        return latencies
    }

    /// A 100,000-row CSV uploaded through the contacts page (as its script sends it) into a new campaign, three
    /// times; each figure is the whole answer, import included.
    static func upload(_ database: Database, _ benchmark: Benchmark, port: Int, token: String, organizer: User,
                       session: URLSession, log: @escaping @Sendable (String) -> Void) async throws -> Benchmark.Latency {
        let rows = 100_000
        var csv = "phone,name,precinct\n"
        csv.reserveCapacity(rows * 40)
        for index in 0..<rows { csv += "+1555\(String(format: "%07d", index)),Contact \(index),\(index % 50)\n" }
        let body = Data(csv.utf8)
        var times: [Double] = []
        for round in 1...3 {
            let campaign = try await CampaignService(database).create(orgID: organizer.orgID, name: "upload \(round)")
            log("Console upload of \(rows) rows (\(body.count / 1024) KiB), round \(round)…")
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/campaigns/\(campaign.id)/contacts")!)
            request.httpMethod = "POST"
            request.httpBody = body
            request.setValue("sb_session=\(token)", forHTTPHeaderField: "Cookie")
            request.setValue("text/csv", forHTTPHeaderField: "Content-Type")
            let page = try await ConsoleAuth(database).session(token: token)
            request.setValue(page?.csrfToken ?? "", forHTTPHeaderField: "X-CSRF-Token")
            request.timeoutInterval = 300
            let start = ContinuousClock.now
            let (data, response) = try await session.data(for: request)
            let elapsed = ContinuousClock.now - start
            guard (response as? HTTPURLResponse)?.statusCode == 200,
                  String(decoding: data, as: UTF8.self).contains("Imported 100,000") || String(decoding: data, as: UTF8.self).contains("Imported 100000")
            else {
                throw SwitchboardError(.unavailable, "bench_failed", "The upload did not import \(rows) rows.")
            }
            times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        times.sort()
        return Benchmark.Latency(name: "console_upload_100k_rows", count: times.count, p50: times[1], p99: times[2])
    }
}
