import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SwitchboardCore

/// What `switchboard serve` needs to know.
public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// Load the demo organization before serving.
    public var demo: Bool

    public init(host: String = "127.0.0.1", port: Int = 8080, demo: Bool = false) {
        self.host = host
        self.port = port
        self.demo = demo
    }
}

/// Builds the HTTP application: the routes over Core, the Postgres pool as a service, migrations (and the demo,
/// if asked) before the server starts accepting requests.
public func buildApplication(
    url: DatabaseURL, settings: ServerSettings, logger: Logger,
    onDemoLoaded: (@Sendable (Demo.Loaded) -> Void)? = nil
) -> some ApplicationProtocol {
    let client = PostgresClient(configuration: url.clientConfiguration(), backgroundLogger: logger)
    let database = Database(client: client, url: url, logger: logger)
    let router = buildRouter(database: database)
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "switchboard"),
        logger: logger
    )
    app.addServices(client)
    app.beforeServerStarts {
        try await Migrator.bundled().migrate(database)
        if settings.demo {
            let loaded = try await Demo(database).load()
            onDemoLoaded?(loaded)
        }
    }
    return app
}

/// The routes; separate from `buildApplication` so tests can drive them with a database of their own.
public func buildRouter(database: Database) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.get("healthz") { _, _ -> Response in
        do {
            try await database.ping()
            return try jsonResponse(["status": "ok", "database": "ok"])
        } catch {
            return try jsonResponse(["status": "degraded", "database": "unavailable"], status: .serviceUnavailable)
        }
    }
    return router
}

/// A JSON response in Switchboard's encoding.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONEncoder.switchboard.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
