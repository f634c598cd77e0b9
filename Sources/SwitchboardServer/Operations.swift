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

/// One JSON object per line (`serve --log-format json`), for log shippers: `time`, `level`, `label`,
/// `message`, and the metadata's keys (a request's `request_id`, a batch's `kind`, `campaign`, `moved`…).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (Data) -> Void

    /// Writes to standard error unless told otherwise.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil,
                write: @escaping @Sendable (Data) -> Void = { FileHandle.standardError.write($0) }) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        let merged = metadata.merging(metadataProvider?.get() ?? [:]) { $1 }.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged { fields[key] = "\(value)" }
        fields["time"] = Date().ISO8601Format(.iso8601.time(includingFractionalSeconds: true).year().month().day()
            .dateTimeSeparator(.standard).timeZone(separator: .omitted))
        fields["level"] = event.level.rawValue
        fields["label"] = label
        fields["message"] = "\(event.message)"
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        write(data + Data("\n".utf8))
    }
}
