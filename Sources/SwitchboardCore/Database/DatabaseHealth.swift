import NIOConcurrencyHelpers

/// Whether the database answered lately, as every request and `/healthz` saw it. While it is down, requests wait
/// for a connection only `waitWhenDown` (and answer 503 quickly) instead of the full limit each; the first
/// connection that works marks it up again, so recovery needs no restart.
public final class DatabaseHealth: Sendable {
    /// How long a request waits for a connection while the database is known to be down.
    public static let waitWhenDown: Duration = .seconds(1)

    private let down = NIOLockedValueBox(false)

    public init() {}

    public var isDown: Bool { down.withLockedValue { $0 } }

    func markDown() { down.withLockedValue { $0 = true } }

    func markUp() { down.withLockedValue { $0 = false } }
}

/// The moment by which the current task (a server request) must have its answer. Every wait on the database
/// under it is cut to what is left, so that a request's several statements cannot add up past its limit.
public enum RequestDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// What is left of the current deadline, if there is one.
    static var remaining: Duration? { current.map { $0 - ContinuousClock.now } }
}
