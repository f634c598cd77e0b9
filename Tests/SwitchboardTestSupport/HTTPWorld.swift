import Foundation
import PostgresNIO
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import Testing
@testable import SwitchboardCore

/// Two organizations: Acme (organizer ada, texters kevin and rebecca on campaign `a`; texter zed on no campaign)
/// and Other (organizer olga, campaign `b`), with tokens for each.
public struct HTTPWorld: Sendable {
    public let fixture: Fixture
    public let other: Fixture
    public let ada: String, kevin: String, rebecca: String, zed: String, olga: String

    public static func make(_ database: Database) async throws -> HTTPWorld {
        let a = try await Fixture.make(database, settings: .init(selfAssign: true, batchSize: 2, requireFinishedBatch: false))
        let b = try await Fixture.make(database, senders: ["oscar"], conversations: 2, orgName: "Other")
        _ = try await Directory(database).addUser(orgID: a.org.id, handle: "zed")
        _ = try await Directory(database).addUser(orgID: b.org.id, handle: "olga", role: .organizer)
        let directory = Directory(database)
        return HTTPWorld(fixture: a, other: b,
                         ada: try await directory.createToken(orgID: a.org.id, handle: "ada"),
                         kevin: try await directory.createToken(orgID: a.org.id, handle: "kevin"),
                         rebecca: try await directory.createToken(orgID: a.org.id, handle: "rebecca"),
                         zed: try await directory.createToken(orgID: a.org.id, handle: "zed"),
                         olga: try await directory.createToken(orgID: b.org.id, handle: "olga"))
    }
}

public struct Reply: Sendable {
    public let status: HTTPResponse.Status
    public let body: ByteBuffer
    public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:] }
    public var code: String? { (json["error"] as? [String: Any])?["code"] as? String }
    public var text: String { String(buffer: body) }
}

extension TestClientProtocol {
    public func call(_ method: HTTPRequest.Method, _ uri: String, token: String?, _ body: String? = nil,
              headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        headers[.contentType] = "application/json"
        let response = try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        // Every answer is held to the shape openapi.yaml gives it (a route or a method the document does not
        // have, answered 404 or 405, has no shape to hold to).
        let problems = SpecCheck.shared.problems(method: method.rawValue, path: uri, status: Int(response.status.code),
                                                 body: Data(buffer: response.body))
        for problem in problems where !(problem.hasSuffix("is not in openapi.yaml") && [404, 405].contains(response.status.code)) {
            Issue.record("openapi.yaml: \(problem)")
        }
        return Reply(status: response.status, body: response.body)
    }
}

/// Runs `body` against the router over a fresh database.
public func withAPI(_ body: @escaping @Sendable (any TestClientProtocol, HTTPWorld, Database) async throws -> Void) async throws {
    try await TestDatabase.with { database in
        let world = try await HTTPWorld.make(database)
        let app = Application(router: buildRouter(database: database))
        try await app.test(.router) { client in try await body(client, world, database) }
    }
}

/// Feeds `hub` from the database's notification channel, as the server's `EventListener` does; returns once it
/// listens, and stops when cancelled.
public func listen(_ database: Database, into hub: EventHub) async -> Task<Void, any Error> {
    let (ready, signal) = AsyncStream<Void>.makeStream()
    let task = Task {
        defer { signal.finish() }
        try await database.client.withConnection { connection in
            // The closure runs once PostgreSQL has run the LISTEN: from here on no notification is missed.
            try await connection.listen(on: Notifications.channel) { notifications in
                signal.yield()
                for try await notification in notifications {
                    await hub.publish(try Notifications.Event(payload: notification.payload))
                }
            }
        }
    }
    for await _ in ready { break }
    return task
}
