import Logging
import NIOCore
import NIOHTTP1

/// Enforces `limits.client_header_timeout` on HTTP/1.1 connections: once the first byte of a
/// request arrives, its whole head must follow within the timeout, or the connection is closed
/// (slowloris). Waiting *before* that first byte is the idle timeout's business, and bytes that
/// arrive while a request or its response is in progress (body, pipelined requests) start nothing.
///
/// Two handlers share one clock: `RequestHeadBytesWatcher` sits right after TLS and sees bytes
/// arrive; `RequestHeadCompletionWatcher` sits after the HTTP/1.1 decoder and sees request heads
/// and ends, and the ends of responses. All on the connection's event loop, so no locks.
final class RequestHeadClock {
    /// No request in progress and no byte of the next one seen.
    private(set) var waiting = true
    private var requestOpen = false
    private var responseOpen = false
    private var timer: Scheduled<Void>?
    private let timeout: TimeAmount
    private let logger: Logger

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    /// Bytes arrived: if they start a new request, its head must be complete within the timeout.
    func bytesArrived(context: ChannelHandlerContext) {
        guard waiting else { return }
        waiting = false
        let channel = context.channel
        let logger = self.logger
        let seconds = timeout.nanoseconds / 1_000_000_000
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            logger.debug("request head not complete in time: connection closed", metadata: [
                "client": "\(channel.remoteAddress.map { "\($0)" } ?? "?")", "client_header_timeout_s": "\(seconds)"])
            channel.close(promise: nil)
        }
    }

    /// The decoder produced a request head: it came in time.
    func headReceived() {
        cancel()
        waiting = false
        requestOpen = true
        responseOpen = true
    }

    func requestEnded() {
        requestOpen = false
        becomeWaitingIfDone()
    }

    func responseEnded() {
        responseOpen = false
        becomeWaitingIfDone()
    }

    func cancel() {
        timer?.cancel()
        timer = nil
    }

    private func becomeWaitingIfDone() {
        if !requestOpen && !responseOpen { waiting = true }
    }
}

/// Sees decrypted bytes before the HTTP/1.1 decoder; starts the head clock on a request's first byte.
final class RequestHeadBytesWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let clock: RequestHeadClock

    init(clock: RequestHeadClock) { self.clock = clock }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if unwrapInboundIn(data).readableBytes > 0 { clock.bytesArrived(context: context) }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clock.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { clock.cancel() }
}

/// Sees decoded request parts and outgoing response parts; stops the head clock when a head
/// arrives and re-opens it once both the request and its response have ended.
final class RequestHeadCompletionWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let clock: RequestHeadClock

    init(clock: RequestHeadClock) { self.clock = clock }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: clock.headReceived()
        case .body: break
        case .end: clock.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { clock.responseEnded() }
        context.write(data, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) { clock.cancel() }
}
