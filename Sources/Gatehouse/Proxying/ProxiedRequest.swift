import GatehouseCompression
import GatehouseHTTP1
import Logging
import NIOCore
import NIOHTTP1

/// One request/response in flight between a client stream and a backend connection: the thin
/// executor of `ProxiedRequest.StateMachine`. It feeds events in, carries the returned action out
/// and holds what the machine must not: the client stream, the backend connection, the pool, the
/// timer, the compressor, the logs.
///
/// Lives on the client connection's event loop together with its backend connection, so it has no
/// locks. Bodies stream both ways with backpressure; nothing buffers a whole body.
final class ProxiedRequest: BackendConnectionDelegate {
    unowned let handler: ProxyHandler
    let stream: HTTPStreamID
    let clientHead: HTTPRequestHead
    /// The head's framing, parsed once on arrival (`RequestFraming.parse`): routing, the early 413
    /// by declared length and the machine's `declaresBody` all read this one value.
    let framing: RequestFraming.Parsed
    /// The client side of this exchange (HTTP/1.1 or HTTP/2, behind one interface).
    let client: any ClientStream
    var machine: StateMachine
    var policy: RoutePolicy?
    var backendHead: HTTPRequestHead?
    // The backend side; only `ProxiedRequest+Backend.swift` talks to the pool.
    var loopPool: LoopBackendPool?
    var serverIndex = 0
    var connection: BackendConnection?
    /// This request's claim on `serverIndex` in `loopPool`, ended exactly once (release, keepPinned, abandon).
    var lease: BackendLease?
    /// The anchor mailbox's hash, for routes with `affinity: anchor_mailbox`.
    var anchor: UInt64?
    private var clientPausedByUs = false
    private var backendPausedByUs = false
    /// Already queued for a backend flush at the end of this read batch.
    var backendFlushScheduled = false
    /// Something was written to the backend and not flushed yet.
    var backendWritesPending = false
    /// Body bytes written to the backend since its last flush (`backendFlushBytes`).
    var unflushedBodyBytes = 0
    /// Compresses the response body when the route's policy and the client's Accept-Encoding agree.
    var deflater: Deflater?
    /// Bytes given to the deflater since its last flush.
    var deflaterPending = false
    let started = NIODeadline.now()
    /// The exchange was cut (client gone, stream aborted): counted as `aborted` in the metrics.
    var cutShort = false
    /// When this request's deadlines next need checking (`distantFuture`: never); the client
    /// connection's one timer (`ProxyHandler.armDeadlineCheck`) runs the check.
    var deadlineCheckAt = NIODeadline.distantFuture
    /// Captured at creation: backend futures and timers may complete after the client connection
    /// (and its handler) is gone, and must never reach through `handler` then.
    let eventLoop: EventLoop
    let environment: ProxyEnvironment

    init(
        handler: ProxyHandler, stream: HTTPStreamID, head: HTTPRequestHead, client: any ClientStream,
        eventLoop: EventLoop
    ) {
        self.handler = handler
        self.eventLoop = eventLoop
        self.environment = handler.requestEnvironment
        self.stream = stream
        self.clientHead = head
        self.client = client
        let framing = RequestFraming.parse(head.headers)
        self.framing = framing
        // NTLM and Negotiate authenticate the TCP connection: any Authorization line naming one
        // pins the backend connection (where the client stream allows it at all).
        self.machine = StateMachine(
            method: head.method, declaresBody: RequestFraming.declaresBody(framing, headers: head.headers),
            authenticatesConnection: ConnectionAuthentication.anyConnectionBound(head.headers, name: "authorization"),
            traits: client.traits)
    }

    // MARK: events in

    /// Routes the request and starts connecting to a backend (or answers it locally).
    func start() {
        switch environment.router.decide(head: clientHead, framing: framing, connection: handler.facts) {
        case .respond(let local):
            perform(machine.answeredByRouter(local))
        case .abort(let reason):
            // A screening rule says: no response at all.
            perform(machine.abortedByRouter(reason: reason))
        case .forward(let policy, let head, let framing):
            self.policy = policy
            self.backendHead = head
            usePool(of: policy)
            let now = eventLoop.now
            let deadlines = RequestDeadlines(
                idle: policy.idleTimeout, connect: policy.connectTimeout,
                header: policy.headerTimeout, total: policy.totalTimeout, now: now)
            perform(machine.routed(framing: framing, maxBodyBytes: policy.maxBodyBytes, deadlines: deadlines, now: now))
        }
    }

    /// A request body part from the client.
    func clientBody(_ buffer: ByteBuffer) { perform(machine.clientBody(buffer, now: eventLoop.now)) }

    /// The request's end (and trailers) from the client.
    /// A client's `X-Client-Cert*` trailer fields are removed as its header fields are.
    func clientEnd(_ trailers: HTTPHeaders?) {
        var trailers = trailers
        if trailers != nil { ClientCertificateHeaders.strip(&trailers!) }
        perform(machine.clientEnd(trailers, now: eventLoop.now))
    }

    /// The client reset the stream or closed its connection.
    func clientAborted() { perform(machine.clientAborted()) }

    /// The client stream can (true) or cannot (false) take more response bytes.
    func clientWritabilityChanged(_ isWritable: Bool) { perform(machine.clientWritable(isWritable)) }

    /// The backend connection's write buffer crossed a watermark.
    func backendWritabilityChanged(on connection: BackendConnection) {
        perform(machine.backendWritable(connection.isWritable))
    }

    /// The backend's read batch ended: flush towards the client.
    func backendReadComplete(on connection: BackendConnection) {
        if deflaterPending {
            // End of what the backend sent for now: push it out so long polls stay live.
            compress(ByteBuffer(), flush: .sync)
        }
        client.flush()
        // The client stream reports writability; keep the backend paused while it cannot take more.
        if !machine.clientWritable { setBackendPaused(true) }
    }

    // MARK: actions out

    /// Carries out one action of the machine.
    func perform(_ action: StateMachine.Action) {
        switch action {
        case .none:
            break
        case .relayInformational, .relayHead, .relayBody, .returnUnusedConnection, .completeResponse:
            // These need the part or connection at hand and are carried out where it arrives.
            assertionFailure("\(action) reached perform")
        case .connect:
            connect()
            rearmDeadlineCheck()
        case .sendRequest(let queued, let end, let trailers, let bindConnection):
            // The connection carries (or will carry) a connection-bound identity: never pooled.
            if bindConnection { connection?.carriesConnectionAuth = true }
            sendRequest(queued: queued, end: end, trailers: trailers)
        case .forwardBody(let buffer):
            forwardBody(buffer)
        case .forwardEnd(let trailers):
            connection?.write(.end(trailers))
            handler.scheduleBackendFlush(self)
            rearmDeadlineCheck()
        case .creditClient(let bytes):
            client.credit(bytes: bytes)
        case .pauseClientReads(let paused):
            setClientPaused(paused)
        case .pauseBackendReads(let paused):
            setBackendPaused(paused)
        case .resend:
            // Nothing of the body left; what the client still sends queues until connected.
            setClientPaused(true)
            connect()
            rearmDeadlineCheck()
        case .respondLocally(let failure, let after):
            respondLocally(failure, after: after)
        case .abort(let failure):
            cutShort = true
            dropConnection()
            logFailure(failure)
            var screened = false
            if case .screened(let reason) = failure {
                // No response is written: the access log says 0 and names the rule, before the
                // client sees its connection close.
                log(status: 0, reason: reason)
                screened = true
            }
            client.abort(.failed)
            finish(log: !screened)
        case .clientGone:
            cutShort = true
            // Mid-exchange: a fully sent request's response is drained and the connection pooled
            // (bounded); otherwise its state is unknown and it is closed.
            dropConnection(drainIfSent: true)
            finish(log: true)
        case .finishDiscarding:
            finish(log: false)
        }
    }

    /// The request is over: one access-log line (unless a local answer wrote it), no clock, reads
    /// resumed, and it leaves the connection's table.
    func finish(log: Bool) {
        if log { self.log(status: machine.responseStatus, reason: nil) }
        cancelTimers()
        setClientPaused(false)
        backendPausedByUs = false
        handler.requestFinished(self)
    }

    /// Pauses or resumes the client's reads once per change (the stream decides what that means).
    func setClientPaused(_ paused: Bool) {
        guard paused != clientPausedByUs else { return }
        clientPausedByUs = paused
        client.pauseReads(paused)
    }

    /// Pauses or resumes reading the backend once per change.
    func setBackendPaused(_ paused: Bool) {
        guard paused != backendPausedByUs, let connection else { return }
        backendPausedByUs = paused
        connection.setReadPaused(paused)
    }
}
