import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle
import SwitchboardCore

/// Every failure becomes `{"error": {"code", "message"}}` with the status its kind calls for; never a stack trace,
/// never a 500 for bad input.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// The served routes, to tell a wrong method (405) from a path that does not exist (404).
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            guard RouteTable.knownMethods.contains(request.method) else {
                return Self.notAllowed(request, allowed: routes.methods(for: request.uri.path))
            }
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            let allowed = routes.methods(for: request.uri.path)
            guard allowed.isEmpty else { return Self.notAllowed(request, allowed: allowed) }
            return Self.response(SwitchboardError(.invalid, "not_found", "There is no such route."), status: .notFound)
        } catch let error as SwitchboardError {
            return Self.response(error)
        } catch let error as HTTPError {
            let code: String
            let message: String
            switch error.status {
            case .contentTooLarge:
                (code, message) = ("body_too_large", "The request body is over 1 MiB.")
            case .notFound:
                (code, message) = ("not_found", "There is no such route.")
            case .badRequest:
                (code, message) = ("bad_request", error.body ?? "The request is malformed (check its ids and parameters).")
            default:
                (code, message) = ("http_error", error.body ?? "The request failed.")
            }
            return Self.response(SwitchboardError(.invalid, code, message), status: error.status)
        } catch is CancellationError {
            // The client went away (or the server is stopping): nobody reads this answer.
            return Self.response(SwitchboardError(.unavailable, "cancelled", "The request was cancelled."))
        } catch let error as PSQLError {
            context.logger.error("database error", metadata: ["error": "\(String(reflecting: error))"])
            let unavailable = error.code != .server
            return Self.response(SwitchboardError(.unavailable, unavailable ? "database_unavailable" : "database_error",
                                                  unavailable ? "The database is unavailable; try again shortly."
                                                              : "The database refused the request."),
                                 status: unavailable ? .serviceUnavailable : .internalServerError)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return Self.response(SwitchboardError(.unavailable, "internal_error", "Something went wrong on our side."),
                                 status: .internalServerError)
        }
    }

    /// 405 with the methods the path does take, if any.
    static func notAllowed(_ request: Request, allowed: [HTTPRequest.Method]) -> Response {
        var response = response(
            SwitchboardError(.invalid, "method_not_allowed", "Method \(request.method) is not allowed on \(request.uri.path)."),
            status: .methodNotAllowed)
        response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
        return response
    }

    static func status(for kind: SwitchboardError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .invalid: .unprocessableContent
        case .notFound: .notFound
        case .refused, .conflict: .conflict
        case .forbidden: .forbidden
        case .unauthorized: .unauthorized
        case .unavailable: .serviceUnavailable
        case .throttled: .tooManyRequests
        }
    }

    static func response(_ error: SwitchboardError, status: HTTPResponse.Status? = nil) -> Response {
        var response = (try? jsonResponse(error, status: status ?? Self.status(for: error.kind)))
            ?? Response(status: .internalServerError)
        if response.status == .serviceUnavailable { response.headers[.retryAfter] = "2" }
        if let seconds = error.retryAfter { response.headers[.retryAfter] = String(max(1, seconds)) }
        return response
    }
}

/// `Authorization: Bearer TOKEN` on every `/v1` route.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let database: Database

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw SwitchboardError(.unauthorized, "unauthorized", "A bearer token is required (Authorization: Bearer TOKEN).")
        }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let user = try await Directory(database).authenticate(token: token) else {
            throw SwitchboardError(.unauthorized, "unauthorized", "The bearer token is unknown or revoked.")
        }
        var context = context
        context.user = user
        return try await next(request, context)
    }
}

/// One log line per request: method, route, status, duration. Never the token.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    static let header = HTTPField.Name("X-Request-ID")!

    /// Every request has an id: the caller's `X-Request-ID` when it is a sane one (1 to 128 of letters, digits,
    /// `.`, `_`, `-`), else Hummingbird's. It is in the response's `X-Request-ID`, in every log line of the
    /// request (metadata `request_id`), and in the line of the batch the request runs (`RequestTag`).
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let id = request.headers[Self.header].flatMap(Self.sane) ?? context.id
        context.logger[metadataKey: "hb.request.id"] = nil
        context.logger[metadataKey: "request_id"] = "\(id)"
        var response = try await RequestTag.$id.withValue(id) { try await next(request, context) }
        response.headers[Self.header] = id
        let elapsed = ContinuousClock.now - start
        context.logger.info("\(request.method) \(context.endpointPath ?? request.uri.path) \(response.status.code)",
                            metadata: ["ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)"])
        return response
    }

    static func sane(_ id: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        return (1...128).contains(id.count) && id.allSatisfy(allowed.contains) ? id : nil
    }
}

/// No request waits longer than `limit`: every database wait under it is cut to the request's deadline (see
/// `RequestDeadline`), and a request whose client closes the connection is cancelled, which rolls its
/// transaction back.
struct RequestLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: Duration
    /// Set once the server drains: requests still running near its end are cancelled, so they answer 503
    /// before the process exits instead of never.
    let drain: DrainClock

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The router's test client has no watcher: nothing to watch there.
        let watcher = try? await context.channel.pipeline.handler(type: ClientWatcher.self).get()
        // The group below waits for both of its tasks, so `next` does not outlive this call.
        return try await withoutActuallyEscaping(next) { next in
            let handler = UncheckedHandler(next: next)
            return try await RequestDeadline.$current.withValue(ContinuousClock.now + limit) {
                try await withThrowingTaskGroup(of: Response?.self) { group in
                    group.addTask { try await handler.next(request, context) }
                    group.addTask {
                        try await Self.waitUntilGone(watcher, or: drain)
                        return nil
                    }
                    defer { group.cancelAll() }
                    guard let first = try await group.next(), let response = first else {
                        guard drain.isOver else { throw CancellationError() }
                        return ErrorMiddleware.response(SwitchboardError(
                            .unavailable, "shutting_down", "The server is shutting down; nothing was changed, try again."))
                    }
                    return response
                }
            }
        }
    }

    /// Returns once the client has gone; polls, since a callback per request on a keep-alive connection would
    /// pile up for as long as the connection lives.
    static func waitUntilGone(_ watcher: ClientWatcher?, or drain: DrainClock) async throws {
        while !(watcher?.isGone ?? false) && !drain.isOver {
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// The next responder, handed to a child task that the middleware waits for before it returns.
private struct UncheckedHandler: @unchecked Sendable {
    let next: (Request, AppRequestContext) async throws -> Response
}

/// The router's routes as (method, path segments), filled once the routes are added.
final class RouteTable: Sendable {
    static let knownMethods: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .delete, .patch, .options]

    private let routes = NIOLockedValueBox<[(method: HTTPRequest.Method, segments: [Substring])]>([])

    func set(_ list: [(method: HTTPRequest.Method, path: String)]) {
        routes.withLockedValue { $0 = list.map { ($0.method, $0.path.split(separator: "/")) } }
    }

    /// The methods served for a concrete path (a `:name` segment matches any one segment).
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        return routes.withLockedValue { routes in
            routes.filter { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
            }.map(\.method)
        }
    }
}

/// When the server's drain ends: set when graceful shutdown begins, to a moment shortly before the process
/// gives up on in-flight requests.
public final class DrainClock: Sendable {
    public init() {}

    private let end = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    func begin(lasting drain: Duration) {
        end.withLockedValue { $0 = ContinuousClock.now + drain - .seconds(1) }
    }

    var isOver: Bool { end.withLockedValue { $0.map { ContinuousClock.now >= $0 } ?? false } }
}

/// Starts the drain clock when graceful shutdown begins. Put it after the application in the service group.
public struct DrainWatcher: Service {
    let clock: DrainClock
    let drain: Duration

    public init(_ settings: ServerSettings) {
        self.clock = settings.drainClock
        self.drain = settings.drain
    }

    public func run() async throws {
        try? await gracefulShutdown()
        clock.begin(lasting: drain)
    }
}

/// Headers every answer carries, so that a browser never runs or frames what it should not: a content security
/// policy (scripts, styles and everything else from this site only, no frames, forms to this site only), no
/// MIME sniffing, and no path sent to other sites in `Referer` (a set-password or invite link is a secret).
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    static let headers: [(HTTPField.Name, String)] = [
        (HTTPField.Name("Content-Security-Policy")!,
         "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
        (HTTPField.Name("Referrer-Policy")!, "same-origin"),
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        for (name, value) in Self.headers where response.headers[name] == nil {
            response.headers[name] = value
        }
        return response
    }
}
