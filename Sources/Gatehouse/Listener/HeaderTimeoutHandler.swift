import NIOCore

/// Enforces `limits.client_header_timeout` on HTTP/1.1: once the first byte of a request arrives,
/// its whole head must arrive within the timeout, or the connection is closed (slowloris). Between
/// requests the proxy's idle timeout applies instead. Sits before the request decoder and sees raw
/// bytes; `HTTP1ServerAdapter` tells it when a head was decoded and when a response finished.
///
/// The clock is a timestamp, not a timer per request: one scheduled check re-arms itself only while
/// a head is in progress, so busy keep-alive connections schedule about one task per timeout period.
final class HeaderTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var awaitingHead = true
    /// When the first byte of the head in progress arrived; nil when no head is in progress.
    private var headStartedAt: NIODeadline?
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if awaitingHead && headStartedAt == nil {
            headStartedAt = .now()
            if timer == nil { scheduleCheck(after: timeout) }
        }
        context.fireChannelRead(data)
    }

    /// A request head was decoded: the header clock stops.
    func headReceived() {
        awaitingHead = false
        headStartedAt = nil
    }

    /// The response was sent: the next bytes start a new head.
    func responseFinished() {
        awaitingHead = true
    }

    private func scheduleCheck(after delay: TimeAmount) {
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            timer = nil
            // No head in progress: stop; the next request's first byte arms the check again.
            guard let started = headStartedAt else { return }
            let elapsed = NIODeadline.now() - started
            if elapsed >= timeout {
                // The head did not complete in time: drop the connection without an answer.
                self.context?.close(promise: nil)
            } else {
                scheduleCheck(after: timeout - elapsed)
            }
        }
    }
}
