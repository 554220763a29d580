import CNGHTTP2
import NIOCore

extension HTTP2ServerHandler {
    /// Closes the connection with GOAWAY(SETTINGS_TIMEOUT) if the client never acknowledges our
    /// SETTINGS (RFC 9113 §6.5.3).
    func scheduleSettingsTimeout(context: ChannelHandlerContext) {
        // The handler and context are loop-bound; the task runs on the same loop.
        settingsTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.settingsAckTimeout) { [self] in
            settingsTimer = nil
            guard let session, state.isServing else { return }
            session.terminate(errorCode: NGHTTP2_SETTINGS_TIMEOUT.rawValue)
            flushOutput(context: context)
            closeNow(context: context)
        }
    }

    /// Records whether streams are open. Rather than re-arming a timer per request, one timer
    /// checks `idleSince` and re-arms itself for the remainder. This is the connection's only idle
    /// clock (the proxy behind runs none on HTTP/2), read from the event loop's clock so that tests
    /// can advance it.
    func noteStreamCount(context: ChannelHandlerContext) {
        guard let session else { return }
        if session.streams.isEmpty {
            if idleSince == nil { idleSince = context.eventLoop.now }
        } else {
            idleSince = nil
        }
    }

    /// Arms the idle check; on expiry with no stream open since `idleTimeout`, drains (GOAWAY).
    func scheduleIdleCheck(context: ChannelHandlerContext, after delay: TimeAmount) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            idleTimer = nil
            guard state.isServing else { return }
            let now = context.eventLoop.now
            if let since = idleSince, now - since >= settings.idleTimeout {
                beginDraining(context: context)
            } else {
                let remaining = idleSince.map { settings.idleTimeout - (now - $0) } ?? settings.idleTimeout
                scheduleIdleCheck(context: context, after: remaining)
            }
        }
    }

    /// Cancels both timers (channel closed or handler removed).
    func cancelTimers() {
        settingsTimer?.cancel()
        settingsTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
    }
}
