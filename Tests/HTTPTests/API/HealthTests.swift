import Foundation
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("HTTP: health")
struct HealthTests {
    @Test("GET /healthz answers 200 with the database reachable")
    func healthy() async throws {
        try await TestDatabase.with { database in
            let app = Application(router: buildRouter(database: database))
            try await app.test(.router) { client in
                try await client.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains("\"database\":\"ok\""))
                }
            }
        }
    }
}
