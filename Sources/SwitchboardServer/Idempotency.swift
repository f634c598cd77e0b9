import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO
import SwitchboardCore

/// `Idempotency-Key` on the POSTs that change assignments: the same key and body return the first result and
/// change nothing more; the same key with another body (or while the first is still running) is a 409.
struct Idempotency: Sendable {
    let database: Database
    static let header = HTTPField.Name("Idempotency-Key")!

    func run(_ request: Request, body: JSONBody, user: User, _ operation: () async throws -> Encoded) async throws -> Response {
        guard let key = request.headers[Self.header] else { return try await operation().response }
        guard (1...200).contains(key.count) else {
            throw SwitchboardError(.invalid, "invalid_idempotency_key", "The Idempotency-Key must be 1 to 200 characters.")
        }
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method) \(request.uri.path)\n".utf8))
        hasher.update(data: Data(buffer: body.raw))
        let hash = ByteBuffer(bytes: Array(hasher.finalize()))
        if Int.random(in: 0..<100) == 0 {
            try await database.query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
        }
        let claimed = try await database.query("""
            INSERT INTO idempotency_keys (org_id, key, user_id, request_hash) VALUES (\(user.orgID), \(key), \(user.id), \(hash))
            ON CONFLICT (org_id, key) DO NOTHING RETURNING 1
            """)
        if claimed.isEmpty {
            let rows = try await database.query("""
                SELECT request_hash, status, body FROM idempotency_keys WHERE org_id = \(user.orgID) AND key = \(key)
                """)
            guard let row = rows.first else { return try await run(request, body: body, user: user, operation) }
            let (storedHash, status, stored) = try row.decode((ByteBuffer, Int?, ByteBuffer?).self)
            guard storedHash == hash else {
                throw SwitchboardError(.conflict, "idempotency_key_reused",
                                       "Idempotency-Key '\(key)' was already used with another request body.")
            }
            guard let status, let stored else {
                throw SwitchboardError(.conflict, "idempotency_key_in_progress",
                                       "A request with Idempotency-Key '\(key)' is still running.")
            }
            return Response(status: .init(code: status), headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: stored))
        }
        do {
            let encoded = try await operation()
            try await database.query("""
                UPDATE idempotency_keys SET status = \(Int(encoded.status.code)), body = \(encoded.body)
                WHERE org_id = \(user.orgID) AND key = \(key)
                """)
            return encoded.response
        } catch {
            // A failed request leaves no record: the client may retry with the same key.
            try? await database.query("DELETE FROM idempotency_keys WHERE org_id = \(user.orgID) AND key = \(key)")
            throw error
        }
    }
}

/// A JSON response body kept as bytes, so that it can be stored for replay.
struct Encoded: Sendable {
    let status: HTTPResponse.Status
    let body: ByteBuffer

    init(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws {
        self.status = status
        self.body = ByteBuffer(bytes: try JSONEncoder.switchboard.encode(value))
    }

    var response: Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
}
