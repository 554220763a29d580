import NIOCore

/// Enforces `limits.client_header_timeout` on HTTP/1.1: once the first byte of a request arrives,
/// its whole head must arrive within the timeout, or the connection is closed (slowloris). Sits
/// before the request decoder and sees raw bytes; whoever answers requests (`HTTP1ServerAdapter`,
/// `RedirectHandler`) tells it when a head was received and when a response finished.
///
/// With an idle timeout (every HTTP/1.1 listener passes `client_idle_timeout`) it also closes
/// connections that sit with no request in progress for that long: the connection's one idle clock.
/// Time is the event loop's (wall time in production; tests advance an embedded loop's).
///
/// The clocks are timestamps in `StateMachine`, not a timer per request: one scheduled check
/// re-arms itself only while a clock runs, so busy keep-alive connections schedule about one task
/// per timeout period.
final class HeaderTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var machine: StateMachine
    /// The one scheduled check, and when it runs.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var context: ChannelHandlerContext?

    /// - Parameter idleTimeout: when set, this handler also closes idle connections.
    init(timeout: TimeAmount, idleTimeout: TimeAmount? = nil) {
        machine = StateMachine(headerTimeout: timeout, idleTimeout: idleTimeout, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The connection is ready for its first request now, on the loop's clock.
        machine = StateMachine(
            headerTimeout: machine.headerTimeout, idleTimeout: machine.idleTimeout,
            now: context.eventLoop.now)
        arm()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        machine.bytesReceived(now: context.eventLoop.now)
        arm()
        context.fireChannelRead(data)
    }

    /// A request head was decoded (on the redirect listener: the whole request): the clocks stop.
    func headReceived() {
        machine.headReceived()
    }

    /// The response was sent: the next bytes start a new head; the idle clock starts.
    func responseFinished() {
        machine.responseFinished(now: context?.eventLoop.now ?? .now())
        arm()
    }

    /// Makes sure a check runs by the machine's deadline. A check already scheduled no later than
    /// that stays (it re-arms itself when it finds nothing due); one scheduled later is replaced,
    /// which happens only when a head starts on an idle connection whose idle check lies beyond it.
    private func arm() {
        guard let deadline = machine.deadline else { return }
        if timer != nil, let scheduled = timerDeadline, scheduled <= deadline { return }
        timer?.cancel()
        schedule(at: deadline)
    }

    private func schedule(at deadline: NIODeadline) {
        guard let context else { return }
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = nil
            switch machine.check(now: context.eventLoop.now) {
            case .close:
                // A clock ran out: drop the connection without an answer.
                self.context?.close(promise: nil)
            case .checkAgain(let next):
                schedule(at: next)
            case .stop:
                break  // the next event that starts a clock arms the check again
            }
        }
    }
}
