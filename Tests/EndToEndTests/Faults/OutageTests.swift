import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("HTTP: database outages and live events")
struct OutageTests {
    @Test("with its connections killed and new ones refused the API answers 503, then recovers without a restart",
          .timeLimit(.minutes(3)))
    func outage() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            var limited = database
            limited.connectionWait = .seconds(2)
            limited.workLimit = .seconds(3)
            let app = Application(router: buildRouter(database: limited))
            let name = database.url.database
            try await Database.withDatabase(url: database.url.with(database: "postgres")) { admin in
                try await app.test(.router) { client in
                    var r = try await client.call(.get, "/v1/me/conversations", token: world.kevin)
                    #expect(r.status == .ok)
                    try await admin.query("ALTER DATABASE \(unescaped: name) ALLOW_CONNECTIONS false")
                    try await admin.query("""
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name)
                        """)
                    r = try await client.call(.get, "/v1/me/conversations", token: world.kevin)
                    #expect(r.status == .serviceUnavailable && r.code == "database_unavailable", "\(r.status) \(r.text)")
                    #expect(!r.text.contains("PSQLError"))
                    r = try await client.call(.get, "/healthz", token: nil)
                    #expect(r.status == .serviceUnavailable)
                    try await admin.query("ALTER DATABASE \(unescaped: name) ALLOW_CONNECTIONS true")
                    var recovered = false
                    for _ in 0..<30 where !recovered {
                        r = try await client.call(.get, "/v1/me/conversations", token: world.kevin)
                        recovered = r.status == .ok
                        if !recovered { try await Task.sleep(for: .seconds(1)) }
                    }
                    #expect(recovered)
                }
            }
        }
    }

    @Test("the event hub delivers a committed batch's notification to the sender it concerns, and only to them")
    func events() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let kevin = try await Directory(database).user(orgID: f.org.id, handle: "kevin")
            let rebecca = try await Directory(database).user(orgID: f.org.id, handle: "rebecca")
            let hub = EventHub()
            let listener = await listen(database, into: hub)
            defer { listener.cancel() }
            let kevinStream = await hub.subscribe(userID: kevin.id)
            let rebeccaStream = await hub.subscribe(userID: rebecca.id)
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 2))
            var iterator = kevinStream.makeAsyncIterator()
            let event = await iterator.next()
            #expect(event?.received == 2 && event?.sender == "kevin")
            #expect(String(buffer: try #require(event).serverSentEvent).hasPrefix("event: assignment\n"))
            _ = rebeccaStream
            #expect(await hub.subscriberCount == 2)
        }
    }
}
