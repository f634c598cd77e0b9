import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import PostgresNIO
import HummingbirdTesting
import SwitchboardServer
import Testing
@testable import SwitchboardCore

/// A real HTTP client over loopback: many requests at once, each timed.
struct LiveClient: Sendable {
    let port: Int
    let session: URLSession

    init(port: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 120
        self.port = port
        self.session = URLSession(configuration: configuration)
    }

    struct Answer: Sendable {
        let status: Int
        let body: Data
        let seconds: Double
        let retryAfter: String?
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var code: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    func call(_ method: String, _ path: String, token: String?, _ body: String? = nil,
              headers: [String: String] = [:]) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let start = ContinuousClock.now
        let (data, response) = try await session.data(for: request)
        let elapsed = ContinuousClock.now - start
        let http = response as! HTTPURLResponse
        return Answer(status: http.statusCode, body: data,
                      seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                      retryAfter: http.value(forHTTPHeaderField: "Retry-After"))
    }
}

/// Serves the router over `database` on a free loopback port while `body` runs.
func withLiveServer(_ database: Database, settings: ServerSettings, hub: EventHub = EventHub(),
                    _ body: @escaping @Sendable (LiveClient) async throws -> Void) async throws {
    let app = Application(router: buildRouter(database: database, hub: hub, settings: settings),
                          server: switchboardHTTPServer(),
                          configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    try await app.test(.live) { client in
        try await body(LiveClient(port: try #require(client.port)))
    }
}

/// A plain TCP connection speaking HTTP by hand: for a client that goes away mid-request, or an event stream.
final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// What arrives within `seconds` (until the peer closes, or the time is up).
    func read(for seconds: Double) -> String {
        var received = Data()
        let end = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < end {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, end.timeIntervalSinceNow * 1000)))
            guard ready > 0 else { break }
            let count = Glibc.read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            received.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { _ = Glibc.close(fd) }
}

/// Holds a lock on a connection of its own until released: the way to make a request wait.
final class LockHolder: Sendable {
    private let release: AsyncStream<Void>.Continuation
    private let task: Task<Void, any Error>

    /// Runs `take` in an open transaction on its own connection, and keeps that transaction open.
    init(_ database: Database, _ take: PostgresQuery) async throws {
        let (released, release) = AsyncStream<Void>.makeStream()
        let (taken, signal) = AsyncStream<Void>.makeStream()
        self.release = release
        task = Task {
            defer { signal.finish() }
            try await database.client.withConnection { connection in
                try await connection.query("BEGIN", logger: database.logger)
                // A server's bounds would end this deliberately idle transaction.
                try await connection.query("SET LOCAL idle_in_transaction_session_timeout = 0", logger: database.logger)
                try await connection.query("SET LOCAL statement_timeout = 0", logger: database.logger)
                try await connection.query(take, logger: database.logger)
                signal.yield()
                for await _ in released { break }
                try await connection.query("ROLLBACK", logger: database.logger)
            }
        }
        for await _ in taken { break }
    }

    func releaseLock() async throws {
        release.yield()
        try await task.value
    }
}
