import NIOCore

/// Enforces `limits.client_header_timeout` on HTTP/1.1: once the first byte of a request arrives,
/// its whole head must arrive within the timeout, or the connection is closed (slowloris). Between
/// requests the proxy's idle timeout applies instead. Sits before the request decoder and sees raw
/// bytes; `HTTP1ServerAdapter` tells it when a head was decoded and when a response finished.
final class HeaderTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var awaitingHead = true
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
        if awaitingHead && timer == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: timeout) {
                // The head did not complete in time: drop the connection without an answer.
                loopBound.value.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    /// A request head was decoded: the header clock stops.
    func headReceived() {
        awaitingHead = false
        timer?.cancel()
        timer = nil
    }

    /// The response was sent: the next bytes start a new head.
    func responseFinished() {
        awaitingHead = true
    }
}
