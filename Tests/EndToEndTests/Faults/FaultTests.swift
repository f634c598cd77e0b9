import Foundation
import Hummingbird
import PostgresNIO
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore
@testable import SwitchboardLocalCluster

/// Serialized: these tests time answers against the server's limit, so they do not compete with each other for
/// the machine (one of them stops and starts a cluster of its own while another loops 24 clients).
@Suite("Hardening: faults of the database and of clients", .serialized)
struct FaultTests {
    static let limit: Duration = .seconds(5)

    @Test("backends terminated three times under 24 looping clients: every request is answered within the limit",
          .timeLimit(.minutes(4)))
    func terminatedBackends() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url, maximumConnections: 40, serverLimit: Self.limit) { database in
            let world = try await HTTPWorld.make(database)
            let campaign = world.fixture.campaign.id
            let ids = try await world.fixture.conversationIDs()
            try await withLiveServer(database, settings: .init(requestTimeout: Self.limit)) { client in
                let start = ContinuousClock.now
                async let overhead = client.overhead(until: start + .seconds(6))
                let answers = try await withThrowingTaskGroup(of: [LiveClient.Answer].self) { group in
                    for worker in 0..<24 {
                        group.addTask {
                            var answers: [LiveClient.Answer] = []
                            // At least one request each, however late a busy machine starts this client.
                            repeat {
                                if worker % 2 == 0 {
                                    answers.append(try await client.call("GET", "/v1/campaigns/\(campaign)/senders",
                                                                         token: world.ada))
                                } else {
                                    let handle = Bool.random() ? "kevin" : "rebecca"
                                    answers.append(try await client.call(
                                        "PUT", "/v1/conversations/\(ids.randomElement()!)/assignee", token: world.ada,
                                        "{\"handle\": \"\(handle)\"}"))
                                }
                            } while ContinuousClock.now - start < .seconds(6)
                            return answers
                        }
                    }
                    group.addTask {
                        try await Database.withDatabase(url: url.with(database: "postgres")) { admin in
                            for moment in [1.0, 2.5, 4.0] {
                                try await Task.sleep(until: start + .milliseconds(Int(moment * 1000)))
                                try await admin.query("""
                                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                    WHERE backend_type = 'client backend' AND datname = \(url.database)
                                      AND pid <> pg_backend_pid()
                                    """)
                            }
                        }
                        return []
                    }
                    return try await group.reduce(into: [LiveClient.Answer]()) { $0 += $1 }
                }
                let longest = answers.map(\.seconds).max() ?? 0
                let unavailable = answers.filter { $0.status == 503 }
                print("terminated backends: \(answers.count) requests, \(unavailable.count) answered 503, longest \(longest) s")
                // Every client was answered (an idle machine gives two hundred answers and more, the whole run
                // starting at once on two cores as few as 36).
                #expect(answers.count >= 24)
                // A request that hangs (the fault this guards against) waits for the client's 120 s; one that is
                // bounded ends at the limit, plus its way through a machine that may be busy with the whole run.
                // A request through the database takes that way at least three times more than one without it (its
                // sign-in's lookup, its lease, its statements each wait their turn for a core).
                let allowance = try await overhead
                print("terminated backends: a request without the database took up to \(allowance) s")
                #expect(longest < 6.5 + 3 * allowance,
                        "a request waited \(longest) s; the limit is 5 s, and one without the database took \(allowance) s")
                #expect(Set(answers.map(\.status)).isSubset(of: [200, 503]), "\(Set(answers.map(\.status)))")
                #expect(unavailable.allSatisfy { $0.retryAfter != nil })
                let after = try await client.call("GET", "/v1/campaigns/\(campaign)/senders", token: world.ada)
                #expect(after.status == 200)
            }
            #expect(try await world.fixture.countsAddUp())
            #expect(try await world.fixture.historyReplays())
        }
    }

    @Test("PostgreSQL stopped and started again: 503s within about a second, recovery without a restart",
          .timeLimit(.minutes(4)))
    func stoppedDatabase() async throws {
        let (cluster, serverURL) = try await offPool { try EmbeddedCluster.throwaway(label: "outage") }
        defer { try? cluster.stop() }
        try await TestDatabase.open(serverURL) { try await Migrator.bundled().migrate($0) }
        try await TestDatabase.open(serverURL, maximumConnections: 10, serverLimit: Self.limit) { database in
            let world = try await HTTPWorld.make(database)
            try await withLiveServer(database, settings: .init(requestTimeout: Self.limit)) { client in
                #expect(try await client.call("GET", "/v1/me/conversations", token: world.kevin).status == 200)
                // The throwaway cluster runs without durability and stops immediately: keep what the world wrote.
                try await database.unbounded.query("CHECKPOINT")
                try await offPool { try cluster.stop() }
                var answers: [LiveClient.Answer] = []
                var overhead = 0.0
                for _ in 0..<6 {
                    overhead = max(overhead, try await client.call("GET", "/openapi.yaml", token: nil).seconds)
                    answers.append(try await client.call("GET", "/v1/me/conversations", token: world.kevin))
                }
                let health = try await client.call("GET", "/healthz", token: nil)
                print("stopped database: waits \(answers.map(\.seconds))")
                #expect(answers.allSatisfy { $0.status == 503 && $0.code == "database_unavailable" })
                // The first request's wait has the database probed; from then on it is known down.
                #expect(answers.allSatisfy { $0.seconds < 2.5 + overhead }, "\(answers.map(\.seconds)); without the database \(overhead) s")
                #expect(health.status == 503 && health.retryAfter != nil)
                try await offPool { try cluster.start() }
                var recovered = false
                var seen: [String] = []
                for _ in 0..<60 where !recovered {
                    let answer = try await client.call("GET", "/v1/me/conversations", token: world.kevin)
                    recovered = answer.status == 200
                    seen.append("\(answer.status) \(String(decoding: answer.body, as: UTF8.self).prefix(150))")
                    if !recovered { try await Task.sleep(for: .milliseconds(500)) }
                }
                print("recovery: \(seen.count) tries; \(seen.suffix(3))")
                #expect(recovered)
                #expect(try await client.call("GET", "/healthz", token: nil).status == 200)
            }
        }
    }

    @Test("a client that goes away mid-request: its work is cancelled and its transaction rolls back",
          .timeLimit(.minutes(3)))
    func clientGoesAway() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url, serverLimit: .seconds(20)) { database in
            let world = try await HTTPWorld.make(database)
            let id = try await world.fixture.conversationIDs()[0]
            let holder = try await LockHolder(database, "SELECT 1 FROM conversations WHERE id = \(id) FOR UPDATE")
            try await withLiveServer(database, settings: .init(requestTimeout: .seconds(20))) { client in
                let connection = try RawConnection(port: client.port)
                let body = "{\"handle\": \"kevin\"}"
                connection.send("PUT /v1/conversations/\(id)/assignee HTTP/1.1\r\nHost: x\r\n"
                                + "Authorization: Bearer \(world.ada)\r\nContent-Type: application/json\r\n"
                                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
                let waitingCount = { @Sendable in try await database.lockWaiters(running: "conversations") }
                #expect(try await waitUntil { try await waitingCount() == 1 }, "the request never reached the locked row")
                connection.close()
                // PostgreSQL checks for a gone client every second (`client_connection_check_interval`); a busy
                // machine can take a few more.
                #expect(try await waitUntil { try await waitingCount() == 0 }, "the abandoned request still waits inside PostgreSQL")
                try await holder.releaseLock()
                // Nothing of the abandoned request is left to commit: no backend of the database is busy any more.
                #expect(try await waitUntil { try await database.busyBackends() == 0 })
                #expect(try await world.fixture.assignees()[0] == nil)
            }
        }
    }

    @Test("event streams send heartbeats, and a subscriber whose client died is dropped", .timeLimit(.minutes(3)))
    func heartbeat() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            let hub = EventHub()
            try await withLiveServer(database, settings: .init(heartbeat: .milliseconds(200)), hub: hub) { client in
                let connection = try RawConnection(port: client.port)
                connection.send("GET /v1/me/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(world.kevin)\r\n\r\n")
                // The read blocks its thread: off the cooperative pool, which the server's handlers share.
                let text = try await offPool { connection.read(until: [": connected", ": heartbeat"], within: 60) }
                #expect(text.contains(": connected"))
                #expect(text.contains(": heartbeat"))
                #expect(await hub.subscriberCount == 1)
                connection.close()
                #expect(try await waitUntil { await hub.subscriberCount == 0 })
            }
        }
    }
}
