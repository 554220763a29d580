import GatehouseHTTP1
import NIOCore
import NIOHTTP1

/// Adapts the HTTP/1.1 server codec to the stream-tagged shape the proxy speaks: each request gets
/// the next stream number; response parts lose their tag; channel writability becomes a
/// `StreamEvent` for the current stream; `StreamCommand.reset` closes the connection (HTTP/1.1 has
/// no other way to abort one exchange). `HTTPServerPipelineHandler` in front keeps pipelined
/// requests in order. It also answers requests the decoder refused (400, 431 or 505 with
/// `Connection: close`, unless a response is under way), as `HTTP1ProtocolErrorHandler` does on
/// the redirect listener: one handler fewer for every request and response part to pass.
///
/// It owns two HTTP/1.1 rules the proxy must not get wrong:
/// - **Keep-alive.** After the request that asks to close (`Connection: close`, HTTP/1.0 without
///   keep-alive) or a response that announces it, nothing more is read or forwarded: bytes
///   pipelined behind it are never parsed as requests, and the connection closes after that
///   response.
/// - **Response framing.** The response encoder adds nothing by itself; `frame` decides here,
///   knowing the request: no body for HEAD, 1xx, 204 and 304 (a HEAD response keeps its
///   Content-Length and never gets `Transfer-Encoding`), else Content-Length, else chunked for
///   HTTP/1.1 clients, else the body runs until the connection closes.
final class HTTP1ServerAdapter: ChannelDuplexHandler, StreamFrontHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = TaggedRequestPart
    typealias OutboundIn = TaggedResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// How a response body is delimited towards the client.
    enum ResponseFraming: Equatable {
        /// No body at all (HEAD, 1xx, 204, 304): body parts are dropped.
        case none
        case contentLength
        case chunked
        /// HTTP/1.0 client, unknown length: the body ends when the connection closes.
        case untilClose
    }

    /// The connection's header clock (nil when no header timeout is configured).
    private let headerTimeout: HeaderTimeoutHandler?
    private var nextStream: Int32 = 1
    private var current = HTTPStreamID(0)
    /// The current request's method and version, which the response's framing depends on.
    private var requestMethod = HTTPMethod.GET
    private var requestVersion = HTTPVersion.http1_1
    /// The connection closes after the current response.
    private var closeAfterResponse = false
    /// The request that ends this connection was read in full: later input is dropped unparsed
    /// by the proxy, and reading stops.
    private var acceptsNoMoreRequests = false
    private var responseFraming = ResponseFraming.none
    /// A final response head has been written without its end (a refused request then gets no
    /// answer of its own: the connection just closes).
    private var responseUnderway = false
    /// The current request's end has been read.
    private var requestEnded = false
    /// A response end is being written: `HTTPServerPipelineHandler` hands over the next pipelined
    /// request from inside that write, while the previous request (and its backend connection's
    /// decoder) is still finishing. Such parts wait here and are delivered on the next event-loop
    /// tick, so a request never starts inside another one's completion: it then finds the pinned
    /// connection in place, and never a backend connection whose last read is still being parsed.
    private var writingEnd = false
    private var deferredParts: [HTTPServerRequestPart] = []
    private var isActive = true
    /// The lingering close after a response sent before its request's body was read
    /// (`HTTP1ServerAdapter+Lingering.swift`); nil until then.
    var lingering: Lingering?
    /// The response whose end was last written (its exchange may still be receiving its body).
    private var endWritten = HTTPStreamID(0)
    /// That end closes the connection once written.
    private var closingAfterEnd = false
    /// The proxy right behind this adapter, when linked (`StreamFrontHandler`, `ProxyHandler.link`).
    var receiver: (any StreamPartReceiver)?
    private var context: ChannelHandlerContext?

    init(headerTimeout: HeaderTimeoutHandler? = nil) {
        self.headerTimeout = headerTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        receiver = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if writingEnd || !deferredParts.isEmpty {
            if deferredParts.isEmpty { scheduleDeferredDelivery(context: context) }
            deferredParts.append(part)
            return
        }
        process(part, context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Deferred parts get their own read-complete once delivered.
        if deferredParts.isEmpty { context.fireChannelReadComplete() }
    }

    private func scheduleDeferredDelivery(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (adapter, context) = bound.value
            adapter.deliverDeferred(context: context)
        }
    }

    private func deliverDeferred(context: ChannelHandlerContext) {
        let parts = deferredParts
        deferredParts.removeAll()
        guard isActive else { return }
        for part in parts { process(part, context: context) }
        context.fireChannelReadComplete()
    }

    private func process(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        if lingering != nil {
            lingeringRead(context: context)
            return
        }
        if acceptsNoMoreRequests { return }
        switch part {
        case .head(let head):
            if closeAfterResponse {
                // The previous response announced the close: this request is never forwarded.
                acceptsNoMoreRequests = true
                return
            }
            headerTimeout?.headReceived()
            current = HTTPStreamID(nextStream)
            // Stream numbers only need to be unique per connection; wrap long before overflow.
            nextStream = nextStream == Int32.max ? 1 : nextStream + 1
            closeAfterResponse = !head.isKeepAlive
            requestEnded = false
            requestMethod = head.method
            requestVersion = head.version
            deliver(part, context: context)
        case .body:
            deliver(part, context: context)
        case .end:
            requestEnded = true
            if closeAfterResponse { acceptsNoMoreRequests = true }
            deliver(part, context: context)
        }
    }

    private func deliver(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        if let receiver {
            receiver.receive(part, stream: current)
        } else {
            context.fireChannelRead(wrapInboundOut(TaggedRequestPart(stream: current, part: part)))
        }
    }

    func read(context: ChannelHandlerContext) {
        // Nothing after the closing request is wanted: let the socket's buffer hold it until close.
        // While lingering, everything is read (and dropped) until the client closes.
        if !acceptsNoMoreRequests || lingering != nil { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireUserInboundEventTriggered(StreamEvent.writabilityChanged(current, isWritable: context.channel.isWritable))
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let status = HTTP1ProtocolErrorHandler.status(for: error), !responseUnderway {
            HTTP1ProtocolErrorHandler.answer(status, context: context)
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        deferredParts.removeAll()
        lingering?.timer?.cancel()
        context.fireUserInboundEventTriggered(StreamEvent.reset(current))
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        writeResponse(unwrapOutboundIn(data).part, context: context, promise: promise)
    }

    /// A response part from the linked proxy (there is one stream at a time, `current`, as for a
    /// `TaggedResponsePart` written through the pipeline); fails as on a closed channel once this
    /// adapter has left the pipeline.
    func writeResponse(_ part: HTTPServerResponsePart, stream: HTTPStreamID, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        writeResponse(part, context: context, promise: promise)
    }

    private func writeResponse(
        _ part: HTTPServerResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?
    ) {
        switch part {
        case .head(var head):
            if head.status.code >= 200 {
                responseFraming = Self.frame(&head, requestMethod: requestMethod, requestVersion: requestVersion)
                if responseFraming == .untilClose { closeAfterResponse = true }
                if closeAfterResponse {
                    head.headers.replaceOrAdd(name: "connection", value: "close")
                } else if head.headers.first(name: "connection")?.lowercased() == "close" {
                    closeAfterResponse = true
                }
                if closeAfterResponse && requestEnded { acceptsNoMoreRequests = true }
                responseUnderway = true
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            if responseFraming == .none {
                // A body where none may be (HEAD, 204, 304) would be read as the next response.
                promise?.succeed()
                return
            }
            context.write(wrapOutboundOut(part), promise: promise)
        case .end:
            headerTimeout?.responseFinished()
            // Before the write: `HTTPServerPipelineHandler` delivers an error held behind this
            // response from inside it, and that error is answered.
            responseUnderway = false
            endWritten = current
            closingAfterEnd = closeAfterResponse
            writingEnd = true
            defer { writingEnd = false }
            if closeAfterResponse {
                // Close once the last byte is written; while the client may still be sending its
                // request body, with a lingering close, so the response is not lost to a reset.
                let written = promise ?? context.eventLoop.makePromise()
                let linger = !requestEnded
                written.futureResult.assumeIsolated().whenComplete { [self] result in
                    if linger, case .success = result { startLingering(context: context) } else { context.close(promise: nil) }
                }
                context.write(wrapOutboundOut(part), promise: written)
            } else {
                context.write(wrapOutboundOut(part), promise: promise)
            }
        }
    }

    /// `StreamCommand.stopSending` after the exchange's response end: closes once the end is out,
    /// lingering while the body may still arrive. Before its end (nothing to protect): at once.
    private func stopSending(_ stream: HTTPStreamID, context: ChannelHandlerContext) {
        guard stream == endWritten, stream == current else {
            context.close(promise: nil)
            return
        }
        acceptsNoMoreRequests = true
        closeAfterResponse = true
        // A closing end starts the lingering close itself once written; so does one that was.
        if closingAfterEnd || lingering != nil { return }
        if requestEnded { context.close(promise: nil) } else { startLingering(context: context) }
    }

    /// Sets the framing headers of a final response head for a request with `requestMethod` and
    /// `requestVersion`, and says how its body is delimited.
    static func frame(
        _ head: inout HTTPResponseHead, requestMethod: HTTPMethod,
        requestVersion: HTTPVersion
    ) -> ResponseFraming {
        let status = head.status.code
        if status < 200 || status == 204 || status == 304 {
            head.headers.remove(name: "transfer-encoding")
            if status == 204 { head.headers.remove(name: "content-length") }
            return .none
        }
        if requestMethod == .HEAD {
            // Content-Length describes what a GET would return; a HEAD response has no body, ever.
            head.headers.remove(name: "transfer-encoding")
            return .none
        }
        if head.headers.contains(name: "content-length") {
            // Backend responses lost Transfer-Encoding as hop-by-hop; local ones never set it.
            return .contentLength
        }
        if requestVersion.major == 1 && requestVersion.minor >= 1 {
            head.headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            return .chunked
        }
        return .untilClose
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let command = event as? StreamCommand {
            switch command {
            case .consumed:
                promise?.succeed()  // TCP is the flow control on HTTP/1.1
            case .reset:
                context.close(promise: promise)
            case .stopSending(let stream):
                promise?.succeed()
                stopSending(stream, context: context)
            }
            return
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }
}
