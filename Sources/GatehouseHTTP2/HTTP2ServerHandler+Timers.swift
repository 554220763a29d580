import CNGHTTP2
import GatehouseHTTP1
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

    /// Records whether streams are open, and keeps the connection's idle deadline on its loop's
    /// `ConnectionClock` (one timer wheel per event loop, not a scheduled task per connection):
    /// armed at `idleSince + idleTimeout` when the last stream closes, disarmed while streams are
    /// open. This is the connection's only idle clock (the proxy behind runs none on HTTP/2), read
    /// from the event loop's clock so that tests can advance it.
    /// The same entry carries the header deadline while a header block is open (a stream is then
    /// open too, so the two never apply at once).
    func noteStreamCount(context: ChannelHandlerContext) {
        guard let session else { return }
        if session.headerBlockOpen != (headerBlockSince != nil) {
            headerBlockSince = session.headerBlockOpen ? context.eventLoop.now : nil
            armIdleClock()
        }
        if session.streams.isEmpty {
            if idleSince == nil {
                idleSince = context.eventLoop.now
                armIdleClock()
            }
        } else if idleSince != nil {
            idleSince = nil
            armIdleClock()
        }
    }

    /// Puts the connection on its loop's clock, idle from now (the session has just started).
    func startIdleClock(context: ChannelHandlerContext) {
        let clock = ConnectionClock.on(context.eventLoop)
        idleClock = (clock, clock.add(self), context)
        idleSince = context.eventLoop.now
        armIdleClock()
    }

    /// Arms the connection's entry at its header deadline, else its idle deadline, else disarms it.
    private func armIdleClock() {
        guard let idleClock else { return }
        if let headerBlockSince {
            idleClock.clock.arm(idleClock.entry, at: headerBlockSince + settings.headerTimeout)
        } else if let idleSince {
            idleClock.clock.arm(idleClock.entry, at: idleSince + settings.idleTimeout)
        } else {
            idleClock.clock.disarm(idleClock.entry)
        }
    }

    /// A deadline came. A header block open for `headerTimeout`: GOAWAY and close. No stream
    /// opened for `idleTimeout`: drains (GOAWAY), the open streams finish.
    public func connectionClockFired(now: NIODeadline) {
        if let context = idleClock?.context, let since = headerBlockSince, let session {
            if now - since >= settings.headerTimeout {
                session.terminate(errorCode: NGHTTP2_NO_ERROR.rawValue)
                flushOutput(context: context)
                closeNow(context: context)
            } else {
                armIdleClock()
            }
            return
        }
        guard let context = idleClock?.context, state.isServing, let since = idleSince else { return }
        if now - since >= settings.idleTimeout {
            beginDraining(context: context)
        } else {
            armIdleClock()
        }
    }

    /// Cancels the settings timer and takes the connection off the clock (channel closed or
    /// handler removed).
    func cancelTimers() {
        settingsTimer?.cancel()
        settingsTimer = nil
        if let idleClock { idleClock.clock.remove(idleClock.entry) }
        idleClock = nil
    }
}
