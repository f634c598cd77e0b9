/// A failure a user can act on: a stable snake_case `code`, a one-sentence `message` naming the bad value,
/// and a `kind` that each front end maps once (the CLI to an exit code, the server to an HTTP status).
public struct SwitchboardError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Bad input: an invalid value, or usage.
        case invalid
        /// An id or name that does not exist (or belongs to another organization).
        case notFound
        /// A rule said no: a confirmation is missing, a self-assign rule, an opted-out contact.
        case refused
        /// The request conflicts with the state: a reused token or idempotency key, an undone batch.
        case conflict
        /// The caller may not do this.
        case forbidden
        /// No valid credentials.
        case unauthorized
        /// The database cannot be reached, or kept failing.
        case unavailable
        /// Too many tries or too much at once: come back after `retryAfter` seconds.
        case throttled
    }

    public let kind: Kind
    public let code: String
    public let message: String
    /// For `throttled`: whole seconds to wait before trying again (HTTP `Retry-After`).
    public var retryAfter: Int?

    public init(_ kind: Kind, _ code: String, _ message: String, retryAfter: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { message }

    static func invalid(_ code: String, _ message: String) -> Self { .init(.invalid, code, message) }
    static func notFound(_ code: String, _ message: String) -> Self { .init(.notFound, code, message) }
    static func refused(_ code: String, _ message: String) -> Self { .init(.refused, code, message) }
    static func conflict(_ code: String, _ message: String) -> Self { .init(.conflict, code, message) }
}
