import GatehouseHTTP1
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
/// The clocks are timestamps in `StateMachine`, not a timer per connection: the connection has one
/// entry on its event loop's `ConnectionClock` (a timer wheel with one scheduled task per loop),
/// moved to the machine's deadline after each event in O(1). A close comes at most one clock tick
/// (100 ms) after the deadline.
final class HeaderTimeoutHandler: ChannelInboundHandler, ConnectionClockClient {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var machine: StateMachine
    /// The loop's clock and this connection's entry on it, from handlerAdded to handlerRemoved.
    private var clock: ConnectionClock?
    private var entry: ConnectionClock.Entry?
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
        let clock = ConnectionClock.on(context.eventLoop)
        self.clock = clock
        entry = clock.add(self)
        arm()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let clock, let entry { clock.remove(entry) }
        clock = nil
        entry = nil
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
        arm()
    }

    /// The response was sent: the next bytes start a new head; the idle clock starts.
    func responseFinished() {
        machine.responseFinished(now: context?.eventLoop.now ?? .now())
        arm()
    }

    /// Puts the connection's entry on the clock at the machine's deadline (O(1); nothing when it
    /// is already in that tick), or takes it off while no clock runs.
    private func arm() {
        guard let clock, let entry else { return }
        if let deadline = machine.deadline {
            clock.arm(entry, at: deadline)
        } else {
            clock.disarm(entry)
        }
    }

    /// The loop's clock reached this connection's deadline (or a tick it has just left).
    func connectionClockFired(now: NIODeadline) {
        guard let context else { return }
        switch machine.check(now: now) {
        case .close:
            // A clock ran out: drop the connection without an answer.
            context.close(promise: nil)
        case .checkAgain:
            arm()
        case .stop:
            break  // the next event that starts a clock arms the entry again
        }
    }
}
