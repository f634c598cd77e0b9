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
public struct LiveClient: Sendable {
    public let port: Int
    public let session: URLSession

    public init(port: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 120
        self.port = port
        self.session = URLSession(configuration: configuration)
    }

    public struct Answer: Sendable {
        public let status: Int
        public let body: Data
        public let seconds: Double
        public let retryAfter: String?
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        public var code: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    public func call(_ method: String, _ path: String, token: String?, _ body: String? = nil,
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

    /// The slowest answer to a request that does no database work (the OpenAPI document), asked every 100 ms
    /// until `end`: what the machine itself adds to every answer at the moment. Tests that time answers against
    /// the server's limit allow for it, so a machine busy with the rest of the run does not read as a server
    /// that overran its limit.
    public func overhead(until end: ContinuousClock.Instant) async throws -> Double {
        var slowest = try await call("GET", "/openapi.yaml", token: nil).seconds
        while ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(100))
            slowest = max(slowest, try await call("GET", "/openapi.yaml", token: nil).seconds)
        }
        return slowest
    }
}

/// Serves the router over `database` on a free loopback port while `body` runs.
public func withLiveServer(_ database: Database, settings: ServerSettings, hub: EventHub = EventHub(),
                    _ body: @escaping @Sendable (LiveClient) async throws -> Void) async throws {
    let app = Application(router: buildRouter(database: database, hub: hub, settings: settings),
                          server: switchboardHTTPServer(),
                          configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    try await app.test(.live) { client in
        try await body(LiveClient(port: try #require(client.port)))
    }
}

/// A plain TCP connection speaking HTTP by hand: for a client that goes away mid-request, or an event stream.
public final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    public init(port: Int) throws {
        guard let fd = Self.connectLoopback(port: port) else { throw POSIXError(.ECONNREFUSED) }
        self.fd = fd
    }

    /// A socket connected to 127.0.0.1:`port`, or nil when nothing listens there.
    public static func connectLoopback(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            return nil
        }
        return fd
    }

    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// What arrives within `seconds` (until the peer closes, or the time is up).
    public func read(for seconds: Double) -> String {
        String(decoding: readData(for: seconds), as: UTF8.self)
    }

    /// What arrives until the text holds every one of `words` (or `seconds` pass).
    public func read(until words: [String], within seconds: Double) -> String {
        String(decoding: readData(for: seconds) { received in
            let text = String(decoding: received, as: UTF8.self)
            return words.allSatisfy { text.contains($0) }
        }, as: UTF8.self)
    }

    /// One HTTP response: its bytes up to the end its Content-Length gives (or until the peer closes, or `seconds`).
    public func readResponse(for seconds: Double) -> Data {
        readData(for: seconds) { received in
            guard let split = received.range(of: Data("\r\n\r\n".utf8)) else { return false }
            let head = String(decoding: received[..<split.lowerBound], as: UTF8.self).lowercased()
            guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                  let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            else { return head.contains("transfer-encoding: chunked") && received.suffix(5) == Data("0\r\n\r\n".utf8) }
            return received.count - split.upperBound >= length
        }
    }

    /// The bytes that arrive within `seconds` (until the peer closes, `complete` says so, or the time is up).
    public func readData(for seconds: Double, complete: (Data) -> Bool = { _ in false }) -> Data {
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
            if complete(received) { break }
        }
        return received
    }

    public func close() { _ = Glibc.close(fd) }
}

/// Holds a lock on a connection of its own until released: the way to make a request wait.
public final class LockHolder: Sendable {
    private let release: AsyncStream<Void>.Continuation
    private let task: Task<Void, any Error>

    /// Runs `take` in an open transaction on its own connection, and keeps that transaction open.
    public init(_ database: Database, _ take: PostgresQuery) async throws {
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

    public func releaseLock() async throws {
        release.yield()
        try await task.value
    }
}
