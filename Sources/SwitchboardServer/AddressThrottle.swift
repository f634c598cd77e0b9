import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import SwitchboardCore

/// A token bucket per client address, for the forms anyone can post that cost a password hash: sign-in, join by
/// invite, set-password. An address may post `burst` of them at once and one more every `1 / perSecond` seconds;
/// beyond that it is answered 429 with `Retry-After`. Per process: with several servers each keeps its own.
public final class AddressThrottle: Sendable {
    public struct Settings: Sendable {
        public var burst: Double = 20
        public var perSecond: Double = 1
        /// Take the client's address from the last `X-Forwarded-For` entry (the proxy in front adds it), not from
        /// the connection, whose peer is the proxy.
        public var behindProxy = false

        public init() {}
    }

    let settings: Settings
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])
    /// Beyond this many addresses, full buckets (idle addresses) are forgotten.
    private static let remembered = 10_000

    private struct Bucket {
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    init(_ settings: Settings = Settings()) { self.settings = settings }

    /// Takes one try for the request's client, or refuses it (`throttled`, with the seconds until the next one).
    func take(_ request: Request, _ context: AppRequestContext) throws(SwitchboardError) {
        let address = clientAddress(request, context)
        let now = ContinuousClock.now
        let wait: Double? = buckets.withLockedValue { buckets in
            var bucket = buckets[address] ?? Bucket(tokens: settings.burst, at: now)
            bucket.tokens = min(settings.burst, bucket.tokens + seconds(now - bucket.at) * settings.perSecond)
            bucket.at = now
            defer {
                buckets[address] = bucket
                if buckets.count > Self.remembered { forgetIdle(&buckets, now: now) }
            }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / settings.perSecond }
            bucket.tokens -= 1
            return nil
        }
        if let wait {
            let after = Int(wait.rounded(.up))
            throw SwitchboardError(.throttled, "too_many_tries",
                                   "Too many tries from your address; wait \(after == 1 ? "a second" : "\(after) seconds") and try again.",
                                   retryAfter: after)
        }
    }

    func clientAddress(_ request: Request, _ context: AppRequestContext) -> String {
        if settings.behindProxy, let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!],
           let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty {
            return last
        }
        return context.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    private func forgetIdle(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        buckets = buckets.filter { settings.burst - ($0.value.tokens + seconds(now - $0.value.at) * settings.perSecond) > 0 }
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
