import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Whether the database answered lately, as every request and `/healthz` saw it. While it is down, requests wait
/// for a connection only `waitWhenDown` (and answer 503 quickly) instead of the full limit each; the first
/// connection that works marks it up again, so recovery needs no restart.
///
/// A request that has waited `probeAfter` for a pooled connection has the database probed: one plain connection
/// attempt to its address, at most one at a time. The pool keeps retrying in the background without telling
/// anyone, so without the probe every request of an outage would wait out its whole limit.
public final class DatabaseHealth: Sendable {
    /// How long a request waits for a connection while the database is known to be down.
    public static let waitWhenDown: Duration = .seconds(1)
    /// How long a request waits for a connection before the database is probed.
    static let probeAfter: Duration = .milliseconds(500)

    private struct State {
        var down = false
        var probing = false
        var lastProbe: ContinuousClock.Instant?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var isDown: Bool { state.withLockedValue { $0.down } }

    func markUp() { state.withLockedValue { $0.down = false } }

    /// Probes the database's address unless a probe runs or ran in the last half second; a refused or timed
    /// out connection marks the database down.
    func probe(_ url: DatabaseURL) {
        let start = state.withLockedValue { state -> Bool in
            let now = ContinuousClock.now
            guard !state.probing, state.lastProbe.map({ now - $0 >= .milliseconds(500) }) ?? true else { return false }
            state.probing = true
            state.lastProbe = now
            return true
        }
        guard start else { return }
        Task {
            let listening = await Self.isListening(url)
            state.withLockedValue { state in
                state.probing = false
                if !listening { state.down = true }
            }
        }
    }

    /// Whether something accepts connections at the database's address. A stopped server refuses at once; the
    /// timeout is only for an address that does not answer at all, and is long enough that busy event loops
    /// (a loaded machine) are not taken for an outage.
    static func isListening(_ url: DatabaseURL) async -> Bool {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(3))
        do {
            let channel: any Channel
            if let socketDirectory = url.socketDirectory {
                channel = try await bootstrap.connect(unixDomainSocketPath: "\(socketDirectory)/.s.PGSQL.\(url.port)").get()
            } else {
                channel = try await bootstrap.connect(host: url.host, port: url.port).get()
            }
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}

/// The moment by which the current task (a server request) must have its answer. Every wait on the database
/// under it is cut to what is left, so that a request's several statements cannot add up past its limit.
public enum RequestDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// What is left of the current deadline, if there is one.
    static var remaining: Duration? { current.map { $0 - ContinuousClock.now } }
}
