import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO
import SwitchboardCore

/// `Idempotency-Key` on the POSTs that change assignments: the same user sending the same key and body gets the
/// first result and changes nothing more; the same key with another body is a 409. The result is recorded in the
/// operation's own transaction (`IdempotentRequest`), so a request that died leaves the key free.
struct Idempotency: Sendable {
    let database: Database
    static let header = HTTPField.Name("Idempotency-Key")!

    /// Runs `operation` once per key; `respond` turns its transaction's value (of type `Value`) into the answer.
    func run<Value: Sendable>(_ request: Request, body: JSONBody, user: User,
                              respond: @escaping @Sendable (Value) throws -> Encoded,
                              _ operation: @escaping @Sendable () async throws -> Value) async throws -> Response {
        guard let key = request.headers[Self.header] else { return try respond(try await operation()).response }
        let length = key.unicodeScalars.count
        guard (1...IdempotentRequest.maximumKeyLength).contains(length) else {
            throw HTTPError(.badRequest, message: "The Idempotency-Key header has \(length) characters; it must have 1 to "
                                + "\(IdempotentRequest.maximumKeyLength).")
        }
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method) \(request.uri.path)\n".utf8))
        hasher.update(data: Data(buffer: body.raw))
        return try await once(key: key, requestHash: Array(hasher.finalize()), user: user, respond: respond,
                              operation).response
    }

    /// Runs `operation` once for this user's `key` and request digest, and returns the answer it gave (or, for
    /// a repeat, the first answer); `respond` turns its transaction's value into that answer.
    func once<Value: Sendable>(key: String, requestHash: [UInt8], user: User,
                               respond: @escaping @Sendable (Value) throws -> Encoded,
                               _ operation: @escaping @Sendable () async throws -> Value) async throws -> Encoded {
        let idempotent = try IdempotentRequest(orgID: user.orgID, userID: user.id, key: key, requestHash: requestHash)
        let stored = try await idempotent.run(database, encode: { value in
            guard let value = value as? Value else {
                throw SwitchboardError(.unavailable, "internal_error", "The operation's result has an unexpected type.")
            }
            return try respond(value).stored
        }) {
            try respond(try await operation()).stored
        }
        return Encoded(stored)
    }

    /// For operations whose answer is their result as it is.
    func run<Value: Sendable & Encodable>(_ request: Request, body: JSONBody, user: User,
                                          _ operation: @escaping @Sendable () async throws -> Value) async throws -> Response {
        try await run(request, body: body, user: user, respond: { try Encoded($0) }, operation)
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

    init(_ stored: IdempotentRequest.Response) {
        self.status = .init(code: stored.status)
        self.body = ByteBuffer(bytes: stored.body)
    }

    var stored: IdempotentRequest.Response {
        IdempotentRequest.Response(status: Int(status.code), body: Array(body.readableBytesView))
    }

    var response: Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
}
