import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle
import SwitchboardCore

/// Fans assignment notifications out to the server's `/v1/me/events` streams, in memory: one LISTEN connection
/// for the whole server, not one per client.
public actor EventHub {
    /// What a subscriber hears: the events of one user (`/v1/me/events`), or of one campaign (the console).
    enum Interest: Equatable {
        case user(Int64)
        case campaign(Int64)

        func covers(_ event: Notifications.Event) -> Bool {
            switch self {
            case .user(let id): event.userID == id
            case .campaign(let id): event.campaignID == id
            }
        }
    }

    private var subscribers: [UUID: Subscriber] = [:]

    private struct Subscriber {
        let interest: Interest
        /// Who opened it (the signed-in user, also when an organizer watches someone else's queue).
        let owner: Int64?
        let continuation: AsyncStream<Notifications.Event>.Continuation
    }

    public init() {}

    /// A stream of the events that concern `userID`; it ends when the consumer goes away or the server stops.
    public func subscribe(userID: Int64) -> AsyncStream<Notifications.Event> {
        add(.user(userID), owner: nil)
    }

    /// A stream of every event of campaign `campaignID` (an open Conversations Overview).
    public func subscribe(campaignID: Int64) -> AsyncStream<Notifications.Event> {
        add(.campaign(campaignID), owner: nil)
    }

    /// A stream opened by a client: at most `limit` at once per `owner`, else refused (429 `too_many_streams`).
    func open(_ interest: Interest, owner: Int64, limit: Int) throws(SwitchboardError) -> AsyncStream<Notifications.Event> {
        guard subscribers.values.count(where: { $0.owner == owner }) < limit else {
            throw SwitchboardError(.throttled, "too_many_streams",
                                   "You have \(limit) live streams open already; close a tab or wait for one to end.",
                                   retryAfter: 30)
        }
        return add(interest, owner: owner)
    }

    private func add(_ interest: Interest, owner: Int64?) -> AsyncStream<Notifications.Event> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Notifications.Event>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        subscribers[id] = Subscriber(interest: interest, owner: owner, continuation: continuation)
        continuation.onTermination = { _ in Task { await self.remove(id) } }
        return stream
    }

    public func publish(_ event: Notifications.Event) {
        for subscriber in subscribers.values where subscriber.interest.covers(event) {
            subscriber.continuation.yield(event)
        }
    }

    public var subscriberCount: Int { subscribers.count }

    func finishAll() {
        for subscriber in subscribers.values { subscriber.continuation.finish() }
        subscribers.removeAll()
    }

    private func remove(_ id: UUID) { subscribers[id] = nil }
}

/// Listens on the notification channel and feeds the hub; reconnects after a lost connection.
struct EventListener: Service {
    let client: PostgresClient
    let hub: EventHub
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        for try await notification in try await connection.listen(Notifications.channel) {
                            if let event = try? Notifications.Event(payload: notification.payload) {
                                await hub.publish(event)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("event listener lost its connection; reconnecting")
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        await hub.finishAll()
    }
}

extension Notifications.Event {
    /// The server-sent event for this notification.
    var serverSentEvent: ByteBuffer {
        let data = (try? JSONEncoder.switchboard.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        guard let batchID else { return ByteBuffer(string: "event: conversation\ndata: \(data)\n\n") }
        return ByteBuffer(string: "event: assignment\nid: \(batchID)\ndata: \(data)\n\n")
    }
}

/// How the server's event streams behave.
struct StreamLimits: Sendable {
    /// How often an idle stream sends a comment line, so that a dead subscriber is noticed.
    var heartbeat: Duration = .seconds(15)
    /// At most this many streams per user at once.
    var perUser = 5
    /// A stream that has carried no event for this long ends; a browser's EventSource reconnects by itself.
    var idle: Duration = .seconds(30 * 60)
}

/// A server-sent event stream of `events`, with a comment line every `limits.heartbeat`. It ends when the client's
/// connection closes (`channel`), when a write fails, or after `limits.idle` without an event; ending it takes the
/// subscriber off the hub.
func eventStream(_ events: AsyncStream<Notifications.Event>, limits: StreamLimits, channel: (any Channel)?) -> Response {
    let body = ResponseBody { writer in
        let (chunks, output) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        let lastEvent = NIOLockedValueBox(ContinuousClock.now)
        channel?.closeFuture.whenComplete { _ in output.finish() }
        let forward = Task {
            for await event in events {
                lastEvent.withLockedValue { $0 = .now }
                output.yield(event.serverSentEvent)
            }
            output.finish()
        }
        let beat = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: min(limits.heartbeat, limits.idle))
                if ContinuousClock.now - lastEvent.withLockedValue({ $0 }) >= limits.idle {
                    output.finish()
                    return
                }
                output.yield(ByteBuffer(string: ": heartbeat\n\n"))
            }
        }
        defer {
            forward.cancel()
            beat.cancel()
        }
        try await writer.write(ByteBuffer(string: "retry: 3000\n: connected\n\n"))
        for await chunk in chunks {
            try await writer.write(chunk)
        }
        try await writer.finish(nil)
    }
    return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
}
