import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Log lines kept in memory, for tests to read.
final class LogCapture: Sendable {
    struct Line: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let lines = NIOLockedValueBox<[Line]>([])
    var all: [Line] { lines.withLockedValue { $0 } }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    func append(_ line: Line) { lines.withLockedValue { $0.append(line) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append(Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}

@Suite("Operations: metrics, request ids, logs")
struct OperationsTests {
    static let metricsToken = "metrics-token-0123456789"

    /// The value of one sample of the scrape (0 when absent).
    static func sample(_ scrape: String, _ name: String, _ labels: String) -> Double {
        for line in scrape.split(separator: "\n") where line.hasPrefix("\(name){\(labels)}") || line.hasPrefix("\(name) ") && labels.isEmpty {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    @Test("/metrics needs its token, and after a batch its counters, rows moved and the route's requests have moved")
    func metrics() async throws {
        try await TestDatabase.with { database in
            let w = try await HTTPWorld.make(database)
            var settings = ServerSettings()
            settings.metrics = .token(Self.metricsToken)
            let app = Application(router: buildRouter(database: database, settings: settings))
            try await app.test(.router) { client in
                let refused = try await client.execute(uri: "/metrics", method: .get)
                #expect(refused.status == .unauthorized)
                let wrong = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer nope"])
                #expect(wrong.status == .unauthorized)
                func scrape() async throws -> String {
                    let response = try await client.execute(uri: "/metrics", method: .get,
                                                            headers: [.authorization: "Bearer \(Self.metricsToken)"])
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                    return String(buffer: response.body)
                }
                let before = try await scrape()
                let body = #"{"source": {"unassigned": true}, "to": ["kevin"], "count": 2}"#
                let batch = try await client.execute(uri: "/v1/campaigns/\(w.fixture.campaign.id)/reassign-some", method: .post,
                                                     headers: [.authorization: "Bearer \(w.ada)", .contentType: "application/json"],
                                                     body: ByteBuffer(string: body))
                #expect(batch.status == .ok)
                let refusedGrant = try await client.execute(uri: "/v1/campaigns/\(w.other.campaign.id)/requests", method: .post,
                                                            headers: [.authorization: "Bearer \(w.kevin)", .contentType: "application/json"],
                                                            body: ByteBuffer(string: "{}"))
                #expect(refusedGrant.status == .notFound)
                let after = try await scrape()
                let batches = #"kind="reassign_some",outcome="ok""#
                #expect(Self.sample(after, "switchboard_batches_total", batches)
                        >= Self.sample(before, "switchboard_batches_total", batches) + 1, "\(after)")
                let moved = #"kind="reassign_some""#
                #expect(Self.sample(after, "switchboard_batch_rows_moved_total", moved)
                        >= Self.sample(before, "switchboard_batch_rows_moved_total", moved) + 2)
                #expect(after.contains("switchboard_batch_duration_seconds_bucket{kind=\"reassign_some\""))
                #expect(after.contains("/v1/campaigns/{id}/reassign-some"))
                #expect(after.contains("switchboard_db_connection_wait_seconds"))
            }
            // Turned off: no route.
            var off = ServerSettings()
            off.metrics = .off
            let quiet = Application(router: buildRouter(database: database, settings: off))
            try await quiet.test(.router) { client in
                let status = try await client.execute(uri: "/metrics", method: .get).status
                #expect(status == .notFound)
            }
        }
    }

    @Test("a request's id comes back in X-Request-ID and is in its log line and its batch's line; a bad one is replaced")
    func requestIDs() async throws {
        let url = try await TestDatabase.make()
        let capture = LogCapture()
        try await TestDatabase.open(url, logger: capture.logger("core")) { database in
            let w = try await HTTPWorld.make(database)
            let app = Application(router: buildRouter(database: database), logger: capture.logger("http"))
            try await app.test(.router) { client in
                let body = #"{"source": {"unassigned": true}, "to": ["rebecca"], "count": 2}"#
                let response = try await client.execute(
                    uri: "/v1/campaigns/\(w.fixture.campaign.id)/reassign-some", method: .post,
                    headers: [.authorization: "Bearer \(w.ada)", .contentType: "application/json",
                              HTTPField.Name("X-Request-ID")!: "trace-abc-123"],
                    body: ByteBuffer(string: body))
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-Request-ID")!] == "trace-abc-123")
                let lines = capture.all.filter { $0.metadata["request_id"] == "trace-abc-123" }
                #expect(lines.contains { $0.message.contains("POST /v1/campaigns/{id}/reassign-some 200") })
                let batch = try #require(lines.first { $0.message == "batch" })
                #expect(batch.level == .info)
                #expect(batch.metadata["kind"] == "reassign_some" && batch.metadata["moved"] == "2"
                        && batch.metadata["matched"] == "2" && batch.metadata["actor"] == "ada"
                        && batch.metadata["campaign"] == String(w.fixture.campaign.id) && batch.metadata["duration_ms"] != nil)
                let bad = try await client.execute(uri: "/healthz", method: .get,
                                                   headers: [HTTPField.Name("X-Request-ID")!: "no spaces allowed"])
                let given = try #require(bad.headers[HTTPField.Name("X-Request-ID")!])
                #expect(given != "no spaces allowed" && !given.isEmpty)
                let fresh = try await client.execute(uri: "/healthz", method: .get)
                #expect(fresh.headers[HTTPField.Name("X-Request-ID")!] != given)
            }
        }
    }

    @Test("--log-format json writes one JSON object per line with the metadata's keys")
    func jsonLines() throws {
        let written = NIOLockedValueBox<[Data]>([])
        var logger = Logger(label: "switchboard") { JSONLogHandler(label: $0, write: { data in written.withLockedValue { $0.append(data) } }) }
        logger[metadataKey: "request_id"] = "r-1"
        logger.info("batch", metadata: ["kind": "reassign_all", "moved": "6"])
        let data = try #require(written.withLockedValue { $0.first })
        #expect(data.last == UInt8(ascii: "\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
        #expect(object["message"] == "batch" && object["level"] == "info" && object["request_id"] == "r-1")
        #expect(object["kind"] == "reassign_all" && object["moved"] == "6" && object["time"] != nil)
    }
}
