/// The lifecycle of one TLS connection, free of NIO and OpenSSL so it can be tested alone.
/// Each event returns what the handler must do.
struct TLSStateMachine {
    /// idle -> handshaking -> active -> closing -> closed (closed is reachable from every state).
    enum State: Equatable { case idle, handshaking, active, closing, closed }

    private(set) var state: State = .idle
    /// The peer's close_notify arrived.
    private(set) var receivedCloseNotify = false
    /// Application data was decrypted at least once.
    private(set) var sawApplicationData = false
    /// We sent close_notify for a half-close (`close(mode: .output)`): no more writes.
    private(set) var outputClosed = false
    /// `ChannelEvent.inputClosed` was already passed on (it must reach the pipeline once).
    private(set) var reportedInputClosed = false

    /// The channel is usable: start the handshake once.
    mutating func start() -> Bool {
        guard state == .idle else { return false }
        state = .handshaking
        return true
    }

    /// The handshake finished. False when the connection was closed meanwhile.
    mutating func handshakeCompleted() -> Bool {
        guard state == .handshaking else { return false }
        state = .active
        return true
    }

    /// Decrypted bytes were delivered.
    mutating func applicationDataReceived() { sawApplicationData = true }

    /// Whether plaintext may be encrypted now (otherwise it is held or refused).
    var canEncrypt: Bool { state == .active }

    /// Whether new writes are accepted (held until the handshake ends, refused after close).
    var acceptsWrites: Bool { !outputClosed && (state == .idle || state == .handshaking || state == .active) }

    /// Our direction was closed with close_notify (half-close). False when not active.
    mutating func closeOutput() -> Bool {
        guard state == .active, !outputClosed else { return false }
        outputClosed = true
        return true
    }

    /// Whether an `inputClosed` event should be passed on now (only the first one is).
    mutating func shouldReportInputClosed() -> Bool {
        guard !reportedInputClosed else { return false }
        reportedInputClosed = true
        return true
    }

    /// What to do when the pipeline asks to close the whole channel.
    enum CloseAction: Equatable {
        /// Not yet secure (or already failed): close the socket at once.
        case closeNow
        /// Send close_notify, then close once it is written.
        case sendCloseNotifyThenClose
        /// A close is already under way: just follow it.
        case alreadyClosing
    }

    mutating func closeRequested() -> CloseAction {
        switch state {
        case .idle, .handshaking:
            state = .closed
            return .closeNow
        case .active:
            state = .closing
            return .sendCloseNotifyThenClose
        case .closing, .closed:
            return .alreadyClosing
        }
    }

    /// What to do when the peer's close_notify arrives.
    enum CloseNotifyAction: Equatable {
        /// Half-closure allowed: report input closed, keep writing.
        case reportInputClosed
        /// Answer with our close_notify and close.
        case replyAndClose
        /// We had already sent ours: close now.
        case closeNow
    }

    mutating func closeNotifyReceived(allowHalfClosure: Bool) -> CloseNotifyAction {
        receivedCloseNotify = true
        switch state {
        case .active:
            if allowHalfClosure { return .reportInputClosed }
            state = .closing
            return .replyAndClose
        default:
            return .closeNow
        }
    }

    /// What the end of TCP input (or the channel going inactive) means.
    enum EndOfInput: Equatable {
        /// After close_notify, or after we started closing ourselves: a clean end.
        case clean
        /// TCP ended in the middle of the handshake.
        case duringHandshake
        /// TCP ended without close_notify: a response may be truncated.
        case unclean(afterData: Bool)
    }

    mutating func inputEnded() -> EndOfInput {
        let previous = state
        state = .closed
        if receivedCloseNotify { return .clean }
        switch previous {
        case .idle, .handshaking: return .duringHandshake
        case .active: return .unclean(afterData: sawApplicationData)
        case .closing, .closed: return .clean
        }
    }

    /// A fatal error: true the first time (report it), false once already closed.
    mutating func failed() -> Bool {
        guard state != .closed else { return false }
        state = .closed
        return true
    }
}
