import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import SwitchboardCore

/// Who may read `/metrics`.
public enum MetricsAccess: Sendable, Equatable {
    /// No `/metrics` route, nothing recorded by the HTTP layer.
    case off
    /// Anyone who reaches the port (bind it to a private address, or use a token).
    case open
    /// Only requests with `Authorization: Bearer TOKEN`.
    case token(String)
    /// Only requests from this machine (a server listening beyond loopback without a metrics token).
    case loopbackOnly

    /// What `serve` serves: nothing when told, only token holders when given a token; without one, anyone on a
    /// server that listens on loopback, and only this machine's clients on one that listens beyond it.
    public static func choose(listeningOnLoopback: Bool, token: String?, disabled: Bool) -> MetricsAccess {
        if disabled { return .off }
        if let token { return .token(token) }
        return listeningOnLoopback ? .open : .loopbackOnly
    }
}

/// The process's metrics in Prometheus's text format. swift-metrics can be bootstrapped once per process, so
/// every server of the process (tests run several) shares this registry.
public enum ServerMetrics {
    public static let registry = PrometheusCollectorRegistry()

    private static let bootstrapped: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()

    /// Makes swift-metrics record into `registry` (once; later calls do nothing).
    public static func bootstrap() { _ = bootstrapped }

    /// The HTTP metrics middleware (for the routes added after it) unless `access` is `.off`.
    static func addMiddleware(to router: Router<AppRequestContext>, access: MetricsAccess) {
        guard access != .off else { return }
        bootstrap()
        router.add(middleware: MetricsMiddleware<AppRequestContext>())
    }

    /// The `/metrics` route unless `access` is `.off` (after the error middleware, which turns a refusal into
    /// its JSON answer).
    static func addRoute(to router: Router<AppRequestContext>, access: MetricsAccess) {
        guard access != .off else { return }
        router.get("metrics") { request, context -> Response in
            switch access {
            case .token(let token):
                let given = request.headers[.authorization].flatMap { header in
                    header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : nil
                }
                guard ConsoleAuth.sameSecret(given, token) else {
                    throw SwitchboardError(.unauthorized, "unauthorized", "The metrics need the metrics token as a bearer token.")
                }
            case .loopbackOnly:
                guard Self.isLoopback(context.channel.remoteAddress?.ipAddress) else {
                    throw SwitchboardError(.unauthorized, "unauthorized",
                                           "The metrics are served to this machine only; start the server with --metrics-token to read them from elsewhere.")
                }
            case .open, .off:
                break
            }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }

    static func isLoopback(_ address: String?) -> Bool {
        guard let address else { return false }
        return address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }
}
