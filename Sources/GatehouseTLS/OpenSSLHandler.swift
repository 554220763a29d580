import NIOCore
import NIOTLS

/// TLS for one channel, server or client role, driving an OpenSSL `SSL` through memory BIOs.
///
/// Inbound it turns ciphertext into plaintext, outbound plaintext into ciphertext. It fires
/// `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)` (before the first decrypted bytes, so an
/// ALPN pipeline switch sees them), holds writes issued before the handshake ends, coalesces
/// plaintext until `flush()` (one `SSL_write` per flush), and completes write promises when the
/// ciphertext write completes. Failures reach `errorCaught` as `TLSError` and close the channel:
/// `.handshake`, `.handshakeTimeout`, `.verification` (client role), `.protocolFailure`, and
/// `.uncleanShutdown` when TCP ends without close_notify.
///
/// Not Sendable: it lives on its channel's event loop.
public final class OpenSSLHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// What to build the connection from (the `SSL` is made in `handlerAdded`, where errors can be
    /// reported on the channel).
    enum Setup {
        case server(CertificateStore)
        case client(TLSClientContext, serverName: String)
    }

    let setup: Setup
    var connection: TLSConnection?
    var state = TLSStateMachine()
    let handshakeTimeout: TimeAmount
    /// False when the caller keeps the handshake clock (`handshakeTimedOut(context:)`), so that a
    /// server with many connections needs no scheduled task per handshake.
    let armsHandshakeTimer: Bool
    var timeoutTask: Scheduled<Void>?

    /// When true, the peer's close_notify is reported as `ChannelEvent.inputClosed` and writing may
    /// continue; when false (default) it is answered with close_notify and the channel is closed.
    public var allowHalfClosure = false

    /// Plaintext written but not yet flushed, and flushed plaintext held until the handshake ends.
    var unflushed: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    var flushed: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    /// Reused for decrypted bytes within one read burst (dropped at channelReadComplete, so an idle
    /// connection holds no buffer).
    var readScratch: ByteBuffer?
    /// A `read()` from downstream not yet satisfied with plaintext (autoRead off).
    var pendingRead = false
    /// Guards `encryptFlushed` against re-entry from events fired while writing.
    var isEncrypting = false
    /// Between channelRead and channelReadComplete: handshake output waits for readComplete (or for
    /// the next application write), so a final flight and the first response share one syscall.
    var inReadBurst = false

    /// Facts about the handshake, available once it completed.
    public internal(set) var connectionInfo: TLSConnectionInfo?

    /// Server role: certificates chosen by SNI from `store`. With `armsHandshakeTimer` false the
    /// handler schedules no timer of its own: the caller enforces `store.policy.handshakeTimeout`
    /// and calls `handshakeTimedOut(context:)` when it has passed (Gatehouse's listeners do so on
    /// the event loop's `ConnectionClock`).
    public init(server store: CertificateStore, armsHandshakeTimer: Bool = true) {
        self.setup = .server(store)
        self.handshakeTimeout = store.policy.handshakeTimeout
        self.armsHandshakeTimer = armsHandshakeTimer
    }

    /// Client role: SNI `serverName` (unless an IP) and verification of the backend against the
    /// context's trust and that name.
    public init(client context: TLSClientContext, serverName: String) {
        self.setup = .client(context, serverName: serverName)
        self.handshakeTimeout = context.policy.handshakeTimeout
        self.armsHandshakeTimer = true
    }

    /// Creates the `SSL` (errors are reported on the channel) and starts if the channel is active.
    public func handlerAdded(context: ChannelHandlerContext) {
        do {
            switch setup {
            case .server(let store):
                connection = try TLSConnection(server: store, allocator: context.channel.allocator)
            case .client(let client, let name):
                connection = try TLSConnection(client: client, serverName: name, allocator: context.channel.allocator)
            }
        } catch {
            let tlsError = error as? TLSError ?? TLSError(.internalError, "\(error)")
            fail(context: context, error: tlsError)
            return
        }
        if context.channel.isActive { start(context: context) }
    }

    /// Cancels the timeout and fails writes still held.
    public func handlerRemoved(context: ChannelHandlerContext) {
        timeoutTask?.cancel()
        timeoutTask = nil
        failBufferedWrites(ChannelError.ioOnClosedChannel)
    }

    /// Starts the handshake (the client sends its ClientHello).
    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    /// Begins the handshake once: arms the timeout, and in the client role sends the ClientHello.
    func start(context: ChannelHandlerContext) {
        guard connection != nil, state.start() else { return }
        if armsHandshakeTimer { armTimer(context: context) }
        if case .client = setup { runHandshake(context: context) }
    }

    /// The handshake timeout as a scheduled task of this handler's own.
    private func armTimer(context: ChannelHandlerContext) {
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        timeoutTask = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            loopBoundSelf.value.handshakeTimedOut(context: loopBoundContext.value)
        }
    }

    /// The handshake timeout has passed: fails the connection with `.handshakeTimeout` if the
    /// handshake is still under way (nothing otherwise). `context` is this handler's.
    public func handshakeTimedOut(context: ChannelHandlerContext) {
        guard state.state == .handshaking else { return }
        fail(
            context: context,
            error: TLSError(.handshakeTimeout, "TLS handshake did not complete within \(Self.describe(handshakeTimeout))"))
    }

    /// Reports how the connection ended (clean, during the handshake, or without close_notify).
    public func channelInactive(context: ChannelHandlerContext) {
        inReadBurst = false
        endOfInput(context: context)
        timeoutTask?.cancel()
        timeoutTask = nil
        failBufferedWrites(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    /// Turns a TCP half-close without close_notify into an unclean-shutdown error; passes the rest on.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed,
            !state.receivedCloseNotify, state.state != .closed
        {
            // TCP half-closed by the peer without close_notify.
            endOfInput(context: context)
            context.close(promise: nil)
            return
        }
        if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed, !state.shouldReportInputClosed() {
            // Already reported when the peer's close_notify arrived; TCP EOF adds nothing.
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Reports how the input ended (clean, during the handshake, or unclean) exactly once.
    private func endOfInput(context: ChannelHandlerContext) {
        switch state.inputEnded() {
        case .clean:
            break
        case .duringHandshake:
            context.fireErrorCaught(
                TLSError(
                    .handshake, "TLS handshake failed: \(peerName) closed the connection during the handshake", serverName: clientServerName
                ))
        case .unclean(let afterData):
            context.fireErrorCaught(
                TLSError(
                    .uncleanShutdown,
                    "\(peerName) closed the connection without TLS close_notify\(afterData ? " (data may be truncated)" : "")",
                    serverName: clientServerName))
        }
    }

    /// "the client" or "backend NAME", for messages.
    var peerName: String {
        switch setup {
        case .server: return "the client"
        case .client(_, let name): return "backend \(name)"
        }
    }

    /// The backend name in the client role, nil in the server role.
    var clientServerName: String? {
        if case .client(_, let name) = setup { return name }
        return nil
    }

    /// Records the failure, sends any pending alert, reports the error and closes the channel.
    func fail(context: ChannelHandlerContext, error: TLSError) {
        guard state.failed() else { return }
        timeoutTask?.cancel()
        timeoutTask = nil
        flushCiphertext(context: context)
        failBufferedWrites(error)
        if case .client(let client, let name) = setup, error.kind == .verification {
            client.forgetSession(for: name)
        }
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Fails every held write with `error`.
    func failBufferedWrites(_ error: Error) {
        let pending = unflushed + flushed
        unflushed.removeAll()
        flushed.removeAll()
        for (_, promise) in pending { promise?.fail(error) }
    }

    /// "10 s" or "300 ms", for messages.
    static func describe(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}
