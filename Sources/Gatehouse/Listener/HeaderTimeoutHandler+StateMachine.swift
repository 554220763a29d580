import NIOCore

extension HeaderTimeoutHandler {
    /// The connection's header clock and (where the listener asks for one) idle clock, as a value:
    /// events go in with the time they happened, and `check(now:)` says whether the connection is
    /// due to be closed. It holds no timer; the handler keeps one check scheduled at `deadline`.
    ///
    /// - idle: no request in progress. Only the idle clock runs (when there is an idle timeout).
    /// - reading a head: its first byte has arrived; the whole head must follow within the header
    ///   timeout, and the idle clock keeps running from when the connection became idle.
    /// - busy: a request is being answered; no clock runs here (the proxy's own timeouts apply).
    struct StateMachine {
        enum State: Equatable {
            case idle(since: NIODeadline)
            case readingHead(started: NIODeadline, idleSince: NIODeadline)
            case busy
        }

        /// Which clock ran out.
        enum Expiry: Equatable {
            case header
            case idle
        }

        /// What a scheduled check should do.
        enum CheckAction: Equatable {
            /// Close the connection: this clock ran out.
            case close(Expiry)
            /// Nothing is due yet: check again at this time.
            case checkAgain(at: NIODeadline)
            /// No clock runs: stop checking until an event starts one again.
            case stop
        }

        let headerTimeout: TimeAmount
        /// nil: this machine keeps no idle clock (on TLS listeners the proxy handler keeps it).
        let idleTimeout: TimeAmount?
        private(set) var state: State

        /// A machine for a connection that became ready for its first request at `now`.
        init(headerTimeout: TimeAmount, idleTimeout: TimeAmount?, now: NIODeadline) {
            self.headerTimeout = headerTimeout
            self.idleTimeout = idleTimeout
            self.state = .idle(since: now)
        }

        /// Bytes arrived from the client: on an idle connection they start a request head.
        mutating func bytesReceived(now: NIODeadline) {
            if case .idle(let since) = state {
                state = .readingHead(started: now, idleSince: since)
            }
        }

        /// The request (head) was received in full: the clocks stop while it is answered.
        mutating func headReceived() {
            state = .busy
        }

        /// The response was sent: the connection is idle from `now`, waiting for the next request.
        mutating func responseFinished(now: NIODeadline) {
            state = .idle(since: now)
        }

        /// When the connection is due to be closed, and by which clock; nil when no clock runs.
        var expiry: (deadline: NIODeadline, clock: Expiry)? {
            switch state {
            case .idle(let since):
                return idleTimeout.map { (since + $0, .idle) }
            case .readingHead(let started, let idleSince):
                let head = started + headerTimeout
                if let idleTimeout, idleSince + idleTimeout < head {
                    return (idleSince + idleTimeout, .idle)
                }
                return (head, .header)
            case .busy:
                return nil
            }
        }

        /// The time the next check is needed, or nil when no clock runs.
        var deadline: NIODeadline? { expiry?.deadline }

        /// What a check at `now` finds.
        func check(now: NIODeadline) -> CheckAction {
            guard let (deadline, clock) = expiry else { return .stop }
            return now >= deadline ? .close(clock) : .checkAgain(at: deadline)
        }
    }
}
