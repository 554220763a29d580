import GatehouseHTTP2
import NIOCore
import NIOHTTP1

/// Adapts the NIOHTTP1 server codec to the stream-tagged shape the proxy speaks: each request gets
/// the next stream number; response parts lose their tag; channel writability becomes a
/// `StreamEvent` for the current stream; `StreamCommand.reset` closes the connection (HTTP/1.1 has
/// no other way to abort one exchange). Keep-alive: a request that asked to close is closed after
/// its response; `HTTPServerPipelineHandler` in front keeps pipelined requests in order.
final class HTTP1ServerAdapter: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = TaggedRequestPart
    typealias OutboundIn = TaggedResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The connection's header clock (nil when no header timeout is configured).
    private let headerTimeout: HeaderTimeoutHandler?
    private var nextStream: Int32 = 1
    private var current = HTTPStreamID(0)
    private var closeAfterResponse = false

    init(headerTimeout: HeaderTimeoutHandler? = nil) {
        self.headerTimeout = headerTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part {
            headerTimeout?.headReceived()
            current = HTTPStreamID(nextStream)
            // Stream numbers only need to be unique per connection; wrap long before overflow.
            nextStream = nextStream == Int32.max ? 1 : nextStream + 1
            closeAfterResponse = !head.isKeepAlive
        }
        context.fireChannelRead(wrapInboundOut(TaggedRequestPart(stream: current, part: part)))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireUserInboundEventTriggered(StreamEvent.writabilityChanged(current, isWritable: context.channel.isWritable))
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        context.fireUserInboundEventTriggered(StreamEvent.reset(current))
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let tagged = unwrapOutboundIn(data)
        switch tagged.part {
        case .head(var head):
            if head.status.code >= 200 {
                if closeAfterResponse {
                    head.headers.replaceOrAdd(name: "connection", value: "close")
                } else if head.headers.first(name: "connection")?.lowercased() == "close" {
                    closeAfterResponse = true
                }
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body, .end:
            let isEnd: Bool
            if case .end = tagged.part { isEnd = true } else { isEnd = false }
            if isEnd { headerTimeout?.responseFinished() }
            if isEnd && closeAfterResponse {
                // Close once the last byte is written.
                let written = promise ?? context.eventLoop.makePromise()
                written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                context.write(wrapOutboundOut(tagged.part), promise: written)
            } else {
                context.write(wrapOutboundOut(tagged.part), promise: promise)
            }
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let command = event as? StreamCommand {
            switch command {
            case .consumed:
                promise?.succeed()   // TCP is the flow control on HTTP/1.1
            case .reset:
                context.close(promise: promise)
            }
            return
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }
}
