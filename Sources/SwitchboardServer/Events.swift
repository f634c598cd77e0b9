import Foundation
import Hummingbird
import Logging
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

    private var subscribers: [UUID: (interest: Interest, continuation: AsyncStream<Notifications.Event>.Continuation)] = [:]

    public init() {}

    /// A stream of the events that concern `userID`; it ends when the consumer goes away or the server stops.
    public func subscribe(userID: Int64) -> AsyncStream<Notifications.Event> {
        subscribe(.user(userID))
    }

    /// A stream of every event of campaign `campaignID` (an open Conversations Overview).
    public func subscribe(campaignID: Int64) -> AsyncStream<Notifications.Event> {
        subscribe(.campaign(campaignID))
    }

    private func subscribe(_ interest: Interest) -> AsyncStream<Notifications.Event> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Notifications.Event>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        subscribers[id] = (interest, continuation)
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

/// A server-sent event stream of `events`, with a comment line every `heartbeat`. A write that fails (the client
/// is gone) ends the stream, which takes the subscriber off the hub.
func eventStream(_ events: AsyncStream<Notifications.Event>, heartbeat: Duration) -> Response {
    let body = ResponseBody { writer in
        let (chunks, output) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        let forward = Task {
            for await event in events { output.yield(event.serverSentEvent) }
            output.finish()
        }
        let beat = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: heartbeat)
                output.yield(ByteBuffer(string: ": heartbeat\n\n"))
            }
        }
        defer {
            forward.cancel()
            beat.cancel()
        }
        try await writer.write(ByteBuffer(string: ": connected\n\n"))
        for await chunk in chunks {
            try await writer.write(chunk)
        }
        try await writer.finish(nil)
    }
    return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
}
