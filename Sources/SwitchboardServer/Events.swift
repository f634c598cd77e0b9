import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SwitchboardCore

/// Fans assignment notifications out to the server's `/v1/me/events` streams, in memory: one LISTEN connection
/// for the whole server, not one per client.
public actor EventHub {
    private var subscribers: [UUID: (userID: Int64, continuation: AsyncStream<Notifications.Event>.Continuation)] = [:]

    public init() {}

    /// A stream of the events that concern `userID`; it ends when the consumer goes away or the server stops.
    public func subscribe(userID: Int64) -> AsyncStream<Notifications.Event> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Notifications.Event>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        subscribers[id] = (userID, continuation)
        continuation.onTermination = { _ in Task { await self.remove(id) } }
        return stream
    }

    public func publish(_ event: Notifications.Event) {
        for subscriber in subscribers.values where subscriber.userID == event.userID {
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
        return ByteBuffer(string: "event: assignment\nid: \(batchID)\ndata: \(data)\n\n")
    }
}
