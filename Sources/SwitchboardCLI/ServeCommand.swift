import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SwitchboardCore
import SwitchboardLocalCluster
import SwitchboardServer

/// `switchboard serve`: the HTTP API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the HTTP API.")
    @OptionGroup var options: GlobalOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Flag(help: "Load a demo organization and campaign (once) and print tokens for it.")
    var demo = false

    @Option(help: "Seconds a request may wait on the database before it answers 503 (1 to 600).")
    var requestTimeout = 15

    @Flag(help: "The console is served over plain HTTP on loopback: its cookie drops 'Secure' (--demo on loopback implies it).")
    var plainHTTP = false

    @Option(help: "Require this bearer token to read /metrics (else SWITCHBOARD_METRICS_TOKEN; without either, /metrics answers loopback clients only, and anyone when the server listens on loopback).")
    var metricsToken: String?

    @Flag(help: "Serve no /metrics and record no HTTP metrics.")
    var noMetrics = false

    @Flag(help: "A proxy in front adds X-Forwarded-For: throttle sign-in tries by its last entry (the client), not by the proxy's address.")
    var behindProxy = false

    @Option(help: "Seconds between runs of stale-reply release (campaigns with release_stale_after); 0 turns it off here.")
    var releaseStaleEvery = 60

    enum LogFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(help: "Log lines as readable text, or one JSON object per line for log shippers.")
    var logFormat = LogFormat.text

    var onLoopback: Bool { ["127.0.0.1", "localhost", "::1"].contains(host) }

    /// In-flight requests get this long to finish after SIGTERM or SIGINT; then the process exits regardless.
    static let drainTime: Duration = .seconds(10)

    func validate() throws {
        guard (1...600).contains(requestTimeout) else {
            throw ValidationError("Request timeout \(requestTimeout) is out of range; give 1 to 600 seconds")
        }
        if let metricsToken, !(16...200).contains(metricsToken.count) {
            throw ValidationError("The metrics token must have 16 to 200 characters (it has \(metricsToken.count))")
        }
        guard (0...86_400).contains(releaseStaleEvery) else {
            throw ValidationError("Release stale every \(releaseStaleEvery) seconds is out of range; give 0 to 86400")
        }
        if plainHTTP && !onLoopback {
            throw ValidationError("--plain-http is for loopback only; '\(host)' needs HTTPS in front of it")
        }
        if demo && !onLoopback {
            throw ValidationError("--demo is for loopback only (its passwords are printed and well known); '\(host)' is not")
        }
    }

    func run() async throws {
        let (url, embedded) = try options.resolveURL(serving: true)
        if embedded { try EmbeddedCluster.forProject().waitUntilAccepting(timeout: .seconds(60)) }
        if logFormat == .json { LoggingSystem.bootstrap { JSONLogHandler(label: $0) } }
        var logger = Logger(label: "switchboard")
        logger.logLevel = .info
        let host = host
        let port = port
        var settings = ServerSettings(host: host, port: port, demo: demo, requestTimeout: .seconds(requestTimeout))
        settings.drain = Self.drainTime
        settings.secureCookies = !(onLoopback && (plainHTTP || demo))
        let token = metricsToken ?? ProcessInfo.processInfo.environment["SWITCHBOARD_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        settings.metrics = .choose(listeningOnLoopback: onLoopback, token: token, disabled: noMetrics)
        settings.tries.behindProxy = behindProxy
        if settings.metrics == .loopbackOnly {
            logger.notice("/metrics answers this machine only: give --metrics-token (or SWITCHBOARD_METRICS_TOKEN) to scrape it from elsewhere")
        }
        settings.releaseStaleEvery = releaseStaleEvery == 0 ? nil : .seconds(releaseStaleEvery)
        let app = buildApplication(url: url, settings: settings, logger: logger) { loaded in
            let banner = """
                Demo loaded: organization \(loaded.orgID) (\(Demo.organizationName)), campaign \(loaded.campaignID).
                  Console: http://\(host):\(port)/sign-in
                    admin:     ada / \(loaded.organizerPassword)
                    texter:    kevin / \(loaded.texterPassword)
                  Invite link for volunteers (signs up a new texter, first batch at once):
                    http://\(host):\(port)/join/\(loaded.inviteToken)
                  API tokens:
                    admin token (ada):      \(loaded.organizerToken)
                    texter token (kevin):   \(loaded.texterToken)
                Try: curl -H 'Authorization: Bearer \(loaded.organizerToken)' http://\(host):\(port)/v1/campaigns/\(loaded.campaignID)/senders

                """
            FileHandle.standardOutput.write(Data(banner.utf8))
        }
        var configuration = ServiceGroupConfiguration(services: [app, DrainWatcher(settings)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Draining waits for in-flight requests; a request stuck on the database must not keep the process up.
        configuration.maximumGracefulShutdownDuration = Self.drainTime
        configuration.maximumCancellationDuration = .seconds(2)
        do {
            try await ServiceGroup(configuration: configuration).run()
            logger.info("stopped")
        } catch let error as ServiceGroupError {
            logger.warning("stopped without finishing every request: \(error)")
        }
    }
}
