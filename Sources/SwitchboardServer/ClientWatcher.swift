import Hummingbird
import HummingbirdCore
import NIOConcurrencyHelpers
import NIOCore

/// Notes when the client of a connection goes away. Hummingbird allows half-closure, so a client that closes
/// its socket leaves the channel active: only the `inputClosed` event (or the channel going inactive) says so.
/// `RequestLimitMiddleware` polls it and cancels the request's work.
final class ClientWatcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // Data passes through untouched; the type is never unwrapped.
    typealias InboundIn = Never

    private let gone = NIOLockedValueBox(false)

    var isGone: Bool { gone.withLockedValue { $0 } }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { gone.withLockedValue { $0 = true } }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone.withLockedValue { $0 = true }
        context.fireChannelInactive()
    }
}

/// HTTP/1.1 with a `ClientWatcher` on every connection: what `serve` and the live tests run.
public func switchboardHTTPServer() -> HTTPServerBuilder {
    .http1(configuration: .init(additionalChannelHandlers: [ClientWatcher()]))
}
