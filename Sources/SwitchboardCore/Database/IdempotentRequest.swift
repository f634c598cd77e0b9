import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// An `Idempotency-Key` request: the same user sending the same key and body gets the first response again and
/// changes nothing more; the same key with another body is a conflict. The response is recorded by the
/// transaction of the operation it answers, just before that commits, so a crash leaves both or neither, and a
/// key whose request died is usable again at once.
public struct IdempotentRequest: Sendable {
    public let orgID: Int64
    public let userID: Int64
    public let key: String
    /// A digest of the method, path and body.
    public let requestHash: [UInt8]

    /// The longest key kept (the table's CHECK).
    public static let maximumKeyLength = 200

    public init(orgID: Int64, userID: Int64, key: String, requestHash: [UInt8]) throws(SwitchboardError) {
        try Text.check(key, field: "Idempotency-Key", minimum: 1, maximum: Self.maximumKeyLength)
        self.orgID = orgID
        self.userID = userID
        self.key = key
        self.requestHash = requestHash
    }

    /// A stored response.
    public struct Response: Sendable, Equatable {
        public let status: Int
        public let body: [UInt8]

        public init(status: Int, body: [UInt8]) {
            self.status = status
            self.body = body
        }
    }

    /// Runs `operation` once for this key. `encode` turns the value the operation's transaction returns into
    /// the response to keep; it is given that value inside the transaction.
    public func run(_ database: Database, encode: @escaping @Sendable (any Sendable) throws -> Response,
                    _ operation: () async throws -> Response) async throws -> Response {
        if let stored = try await stored(database) { return stored }
        if Int.random(in: 0..<100) == 0 {
            try await database.query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
        }
        let recorder = Recorder(request: self, encode: encode)
        do {
            let response = try await Recorder.$current.withValue(recorder) { try await operation() }
            // An operation that ran no transaction (none does today) still leaves its answer for a retry.
            if !recorder.isSaved {
                try await database.query(insert(response))
            }
            return response
        } catch is Recorder.Race {
            // Another request with this key committed first: answer what it answered.
            if let stored = try await stored(database) { return stored }
            throw SwitchboardError.conflict("idempotency_key_in_progress",
                                            "A request with Idempotency-Key '\(key)' is still running.")
        }
    }

    /// The response kept for this user's key, if the same request made it; a conflict if another one did.
    private func stored(_ database: Database) async throws -> Response? {
        let rows = try await database.query("""
            SELECT request_hash, status, body FROM idempotency_keys
            WHERE org_id = \(orgID) AND user_id = \(userID) AND key = \(key)
            """)
        guard let row = rows.first else { return nil }
        let (hash, status, body) = try row.decode((ByteBuffer, Int, ByteBuffer).self)
        guard Array(hash.readableBytesView) == requestHash else {
            throw SwitchboardError.conflict("idempotency_key_reused",
                                            "Idempotency-Key '\(key)' was already used with another request body.")
        }
        return Response(status: status, body: Array(body.readableBytesView))
    }

    fileprivate func insert(_ response: Response) -> PostgresQuery {
        """
        INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, status, body)
        VALUES (\(orgID), \(userID), \(key), \(ByteBuffer(bytes: requestHash)), \(response.status),
                \(ByteBuffer(bytes: response.body)))
        ON CONFLICT (org_id, user_id, key) DO NOTHING RETURNING 1
        """
    }

    /// The key whose response the current task's next transaction records before it commits.
    final class Recorder: Sendable {
        /// Another request with the same key committed first; this transaction rolls back.
        struct Race: Error {}

        @TaskLocal static var current: Recorder?

        let request: IdempotentRequest
        let encode: @Sendable (any Sendable) throws -> Response
        private let saved = NIOLockedValueBox(false)

        init(request: IdempotentRequest, encode: @escaping @Sendable (any Sendable) throws -> Response) {
            self.request = request
            self.encode = encode
        }

        var isSaved: Bool { saved.withLockedValue { $0 } }

        /// Records `value`'s response on the transaction's connection. Waits for a concurrent request with the
        /// same key to commit or roll back (the primary key's lock), and throws `Race` if it committed.
        func save(_ value: any Sendable, on connection: PostgresConnection, logger: Logger) async throws {
            let rows = try await connection.rows(request.insert(try encode(value)), logger: logger)
            if rows.isEmpty { throw Race() }
        }

        /// The transaction that recorded the response committed.
        func committed() { saved.withLockedValue { $0 = true } }
    }
}
