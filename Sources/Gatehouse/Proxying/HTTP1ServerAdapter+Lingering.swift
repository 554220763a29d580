import NIOCore

// MARK: - Lingering close
//
// A response that closes the connection may go out before the client has sent all of its request
// body: an early 413 for a declared length over the route's limit, a local refusal of a POST, a
// backend that answers before reading. Closing the socket with unread bytes in it (or more still
// arriving) makes the kernel send a reset, and a reset makes the client's kernel throw away the
// response it has not read yet: curl then reports "Connection reset by peer" instead of the 413
// (6 of 20 uploads of 100 MiB did, before this). As nginx's `lingering_close`, the adapter first
// closes only its own direction (TLS close_notify, then a TCP half-close), then reads and drops
// what the client still sends until it closes, for at most `Lingering.idle` without data and
// `Lingering.total` in all, and then closes.

extension HTTP1ServerAdapter {
    /// The state of a lingering close.
    struct Lingering {
        /// The longest wait for more client data (nginx's `lingering_timeout`).
        static let idle = TimeAmount.seconds(5)
        /// The longest lingering close in all (nginx's `lingering_time`).
        static let total = TimeAmount.seconds(30)

        let started: NIODeadline
        var lastRead: NIODeadline
        var timer: Scheduled<Void>?

        /// When the connection is closed if nothing more arrives.
        var deadline: NIODeadline { min(lastRead + Self.idle, started + Self.total) }
    }

    /// The response is out and the request's body is not: close our direction, keep reading.
    func startLingering(context: ChannelHandlerContext) {
        guard lingering == nil else { return }
        let now = context.eventLoop.now
        lingering = Lingering(started: now, lastRead: now)
        context.close(mode: .output, promise: nil)
        armLingeringTimer(context: context)
        context.read()
    }

    /// Client bytes arrived while lingering: they are dropped, and the idle wait starts again.
    func lingeringRead(context: ChannelHandlerContext) {
        lingering?.lastRead = context.eventLoop.now
    }

    private func armLingeringTimer(context: ChannelHandlerContext) {
        guard let deadline = lingering?.deadline else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        lingering?.timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (adapter, context) = bound.value
            adapter.lingeringTimerFired(context: context)
        }
    }

    private func lingeringTimerFired(context: ChannelHandlerContext) {
        guard let lingering else { return }
        if context.eventLoop.now >= lingering.deadline {
            context.close(promise: nil)
        } else {
            armLingeringTimer(context: context)  // data came meanwhile: wait again from the last read
        }
    }
}
