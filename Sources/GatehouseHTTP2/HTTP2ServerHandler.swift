import GatehouseHTTP1
import NIOCore
import NIOHTTP1

/// Serves HTTP/2 to one client connection with nghttp2, sitting after the TLS handler.
///
/// Inbound it reads plaintext h2 bytes and fires `TaggedRequestPart`s (head, body slices, end) and
/// `StreamEvent`s; outbound it accepts `TaggedResponsePart`s and `StreamCommand`s
/// (`triggerUserOutboundEvent`) and writes h2 frames as `ByteBuffer`s. Requests with NTLM or
/// Negotiate authorization and malformed requests are answered here and never reach the proxy.
/// On `ChannelShouldQuiesceEvent` it sends GOAWAY, lets open streams finish, then closes.
///
/// Contract with the proxy behind it:
/// - Request bodies are flow-controlled by hand: the client's window opens only by the bytes the
///   proxy reports with `StreamCommand.consumed`. Bytes of streams that close or reset are settled
///   by the handler, so late or missing `consumed` commands never leak the connection window.
/// - `StreamEvent.writabilityChanged` is delivered when the handler flushes: write, flush, and the
///   event (if a watermark was crossed) arrives before `flush` returns, outside of a read.
/// - Flushes requested while a read is being delivered are folded into `channelReadComplete`, so
///   all answers to one read leave in one write.
/// - Writes for a stream that is gone are dropped and their promises fail with
///   `HTTP2Error.streamClosed`; nothing is queued for it.
public final class HTTP2ServerHandler: ChannelDuplexHandler, StreamFrontHandler, ConnectionClockClient {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = TaggedRequestPart
    public typealias OutboundIn = TaggedResponsePart
    public typealias OutboundOut = ByteBuffer

    let settings: HTTP2Settings
    var session: HTTP2Session?
    var state = StateMachine()
    /// Guards against re-entrant flushes: a promise completed or an event fired during a flush may
    /// write and flush again; that request is folded into the running flush.
    var isFlushing = false
    var flushAgain = false
    var isDelivering = false
    /// Between channelRead and channelReadComplete: flushes requested meanwhile are folded into
    /// the one at channelReadComplete, so the answers to a read's requests leave in one write.
    var inReadLoop = false
    var settingsTimer: Scheduled<Void>?
    /// The loop's clock, this connection's entry on it (its idle deadline) and the context the
    /// deadline acts on; set while the session runs.
    var idleClock: (clock: ConnectionClock, entry: ConnectionClock.Entry, context: ChannelHandlerContext)?
    /// When the last stream closed; nil while streams are open.
    var idleSince: NIODeadline?
    /// When the header block being received began; nil when none is.
    var headerBlockSince: NIODeadline?
    /// The proxy right behind this handler, when linked (`StreamFrontHandler`).
    public var receiver: (any StreamPartReceiver)?

    /// Creates a handler with the given limits.
    public init(settings: HTTP2Settings = HTTP2Settings()) {
        self.settings = settings
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        receiver = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    /// Creates the session and sends our SETTINGS (the server preface).
    private func start(context: ChannelHandlerContext) {
        guard state.channelReady() == .start else { return }
        do {
            let session = try HTTP2Session(settings: settings, allocator: context.channel.allocator)
            self.session = session
            session.start()
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        scheduleSettingsTimeout(context: context)
        startIdleClock(context: context)
        flushOutput(context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session, state.isServing else { return }
        inReadLoop = true
        switch session.receive(unwrapInboundIn(data)) {
        case .ok:
            deliverEvents(context: context)
        case .fatal:
            // The session queued a GOAWAY where one helps (queueGoawayAfterFatal): send it, close.
            flushOutput(context: context)
            closeNow(context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        // Responses, SETTINGS/PING acks and WINDOW_UPDATEs of this read go out in one write.
        inReadLoop = false
        flushOutput(context: context)
        context.fireChannelReadComplete()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let tagged = unwrapOutboundIn(data)
        writeResponse(tagged.part, stream: tagged.stream, promise: promise)
    }

    /// A response part of `stream`, from the linked proxy (`receiver`) or from `write`.
    public func writeResponse(_ part: HTTPServerResponsePart, stream: HTTPStreamID, promise: EventLoopPromise<Void>?) {
        guard let session, state.isServing else {
            promise?.fail(HTTP2Error.sessionClosed)
            return
        }
        let id = stream.rawValue
        switch part {
        case .head(let head): session.writeHead(stream: id, head, promise: promise)
        case .body(.byteBuffer(let buffer)): session.writeBody(stream: id, buffer, promise: promise)
        case .body(.fileRegion): session.completions.appendIfPresent(promise, .protocolViolation)
        case .end(let trailers): session.writeEnd(stream: id, trailers: trailers, promise: promise)
        }
        if !isFlushing { session.completePromises() }
    }

    public func flush(context: ChannelHandlerContext) {
        // During a read, channelReadComplete flushes for everything the read produced.
        if !inReadLoop { flushOutput(context: context) }
    }

    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let command = event as? StreamCommand else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if let session, state.isServing {
            switch command {
            case .consumed(let stream, let bytes): session.consumed(stream: stream.rawValue, bytes: bytes)
            case .reset(let stream, let errorCode): session.resetStream(stream.rawValue, errorCode: errorCode)
            case .stopSending(let stream): session.resetStream(stream.rawValue, errorCode: 0)  // NO_ERROR
            }
            // A WINDOW_UPDATE or RST_STREAM must not wait for an unrelated flush (during a read,
            // channelReadComplete is that flush).
            if !inReadLoop { flushOutput(context: context) }
        }
        promise?.succeed()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Handled here: the proxy behind us must not close the connection under open streams.
            beginDraining(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flushOutput(context: context) }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        state.channelInactive()
        inReadLoop = false
        cancelTimers()
        if let session {
            // Streams the proxy still works on are aborted; queued writes fail.
            for id in session.closeAll() {
                context.fireUserInboundEventTriggered(StreamEvent.reset(HTTPStreamID(id)))
            }
            session.completePromises()
        }
        context.fireChannelInactive()
    }
}
