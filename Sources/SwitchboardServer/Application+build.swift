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
    /// No request waits longer than this, whatever the database does: it answers 503 with `Retry-After`.
    public var requestTimeout: Duration
    /// How often an idle event stream sends a comment line, so that a dead subscriber is noticed.
    public var heartbeat: Duration
    /// After SIGTERM, in-flight requests get this long; those still running a second before its end answer 503.
    public var drain: Duration = .seconds(10)
    /// The console's session cookie carries `Secure` unless this is false (plain HTTP on loopback only).
    public var secureCookies = true
    /// Who may read `/metrics` (Prometheus text format).
    public var metrics = MetricsAccess.open
    /// bcrypt's cost for passwords set through the console (tests lower it).
    public var passwordCost = ConsoleAuth.defaultCost
    /// How often one client address may post the forms that hash a password (sign-in, join, set-password).
    public var tries = AddressThrottle.Settings()
    /// At most this many event streams per user (`/v1/me/events` and the console's live pages together).
    public var streamsPerUser = 5
    /// An event stream that has carried no event for this long ends (a browser's EventSource reconnects).
    public var streamIdleTimeout: Duration = .seconds(30 * 60)

    var streams: StreamLimits { StreamLimits(heartbeat: heartbeat, perUser: streamsPerUser, idle: streamIdleTimeout) }
    /// How often stale replies are released (campaigns with `release_stale_after`); nil: never, in this process.
    public var releaseStaleEvery: Duration? = .seconds(60)
    /// Started by a `DrainWatcher` placed after the application in the service group (services are told to
    /// shut down in reverse order, so it hears of it first).
    public let drainClock = DrainClock()

    public init(host: String = "127.0.0.1", port: Int = 8080, demo: Bool = false,
                requestTimeout: Duration = .seconds(15), heartbeat: Duration = .seconds(15)) {
        self.host = host
        self.port = port
        self.demo = demo
        self.requestTimeout = requestTimeout
        self.heartbeat = heartbeat
    }
}

/// Builds the HTTP application: the routes over Core, the Postgres pool and the event listener as services,
/// migrations (and the demo, if asked) before the server accepts requests. SIGTERM/SIGINT finish in-flight
/// requests, then close the pool.
public func buildApplication(
    url: DatabaseURL, settings: ServerSettings, logger: Logger,
    onDemoLoaded: (@Sendable (Demo.Loaded) -> Void)? = nil
) -> some ApplicationProtocol {
    let client = PostgresClient(
        configuration: url.clientConfiguration(maximumConnections: 40, serverLimit: settings.requestTimeout),
        backgroundLogger: logger)
    let database = Database(client: client, url: url, logger: logger, connectionWait: settings.requestTimeout,
                            workLimit: settings.requestTimeout)
    let hub = EventHub()
    var app = Application(
        router: buildRouter(database: database, hub: hub, settings: settings, drain: settings.drainClock),
        server: switchboardHTTPServer(),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "switchboard"),
        logger: logger
    )
    app.addServices(client, EventListener(client: client, hub: hub, logger: logger))
    if let every = settings.releaseStaleEvery {
        app.addServices(StaleReleaser(database: database.unbounded, every: every, logger: logger))
    }
    app.beforeServerStarts {
        try await Migrator.bundled().migrate(database.unbounded)
        if settings.demo {
            let loaded = try await Demo(database.unbounded).load()
            onDemoLoaded?(loaded)
        }
    }
    return app
}

/// The routes; separate from `buildApplication` so tests can drive them with a database of their own.
public func buildRouter(database: Database, hub: EventHub = EventHub(), settings: ServerSettings = .init(),
                        drain: DrainClock = DrainClock()) -> Router<AppRequestContext>
{
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: RequestLogMiddleware())
    ServerMetrics.addMiddleware(to: router, access: settings.metrics)
    router.add(middleware: RequestLimitMiddleware(limit: settings.requestTimeout, drain: drain))
    let routes = RouteTable()
    router.add(middleware: ErrorMiddleware(routes: routes))
    ServerMetrics.addRoute(to: router, access: settings.metrics)
    router.get("healthz") { _, _ -> Response in
        // The same health the API's requests use: a failed ping here shortens their waits, a good one ends that.
        do {
            try await database.ping(timeout: .seconds(2))
            return try jsonResponse(["status": "ok", "database": "ok"])
        } catch {
            var response = try jsonResponse(["status": "degraded", "database": "unavailable"], status: .serviceUnavailable)
            response.headers[.retryAfter] = "2"
            return response
        }
    }
    router.get("openapi.yaml") { _, _ -> Response in
        Response(status: .ok, headers: [.contentType: "application/yaml"],
                 body: .init(byteBuffer: ByteBuffer(string: OpenAPI.document)))
    }
    let v1 = router.group("v1").add(middleware: AuthMiddleware(database: database))
    let idempotency = Idempotency(database: database)
    Console(database: database, templates: Console.templates, hub: hub, secureCookies: settings.secureCookies,
            streams: settings.streams, bcryptCost: settings.passwordCost, tries: AddressThrottle(settings.tries))
        .add(to: router)
    let campaigns = CampaignRoutes(database: database, idempotency: idempotency)
    campaigns.add(to: v1)
    RoutingRoutes(database: database, idempotency: idempotency, campaigns: campaigns).add(to: v1)
    HistoryRoutes(database: database, campaigns: campaigns).add(to: v1)
    SetupRoutes(database: database, campaigns: campaigns).add(to: v1)
    ListRoutes(database: database, campaigns: campaigns).add(to: v1)
    TeamRoutes(database: database, campaigns: campaigns).add(to: v1)
    ReportRoutes(database: database, campaigns: campaigns).add(to: v1)
    ConversationRoutes(database: database, idempotency: idempotency, hub: hub, streams: settings.streams).add(to: v1)
    routes.set(router.routes.map { ($0.method, "\($0.path)") })
    return router
}

/// A JSON response in Switchboard's encoding.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    try Encoded(value, status: status).response
}
