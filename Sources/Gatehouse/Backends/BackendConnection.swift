import GatehouseHTTP1
import GatehouseTLS
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOTLS

/// What a backend connection reports to the request currently using it. Implemented by
/// `ProxiedRequest`; all calls happen on the connection's event loop (the client's loop).
protocol BackendConnectionDelegate: AnyObject {
    func backendDidReceive(_ part: HTTPClientResponsePart, on connection: BackendConnection)
    /// The backend's read batch ended: a good moment to flush what was written to the client.
    func backendReadComplete(on connection: BackendConnection)
    func backendWritabilityChanged(on connection: BackendConnection)
    /// The connection failed or closed while this delegate was using it.
    func backendDidFail(_ error: Error, on connection: BackendConnection)
}

/// One TLS connection to a backend server, on one event loop. Used by one request at a time;
/// returned to its `LoopBackendPool` after a complete, reusable exchange.
///
/// `@unchecked Sendable`: it is confined to its event loop; it only crosses a concurrency boundary
/// inside futures that complete on that same loop.
final class BackendConnection: @unchecked Sendable {
    let channel: Channel
    let server: BackendServer
    /// The pool on this loop that opened it (set once connected), and its name in that pool's
    /// state machine. The pool hears of its closing from `close()` and from the channel's end.
    weak var pool: LoopBackendPool?
    var poolID: LoopBackendPool.ConnectionID?
    weak var delegate: BackendConnectionDelegate?
    /// True once the connection is known unusable (closed, error, `Connection: close`).
    var isClosed = false
    /// The connection carried NTLM or Negotiate (a request's Authorization, or a backend's
    /// challenge): its identity belongs to one client connection, so the shared pool never takes
    /// it back; it is kept pinned to that client or closed.
    var carriesConnectionAuth = false
    /// The drain reading the rest of an abandoned response (`BackendDrain`), held here while it
    /// runs because `delegate` is weak.
    var drain: BackendDrain?
    /// The channel's last handler. Weak: the pipeline owns it, and it owns this connection, so the
    /// connection lives exactly as long as its channel's pipeline.
    fileprivate weak var handler: BackendChannelHandler?

    init(channel: Channel, server: BackendServer) {
        self.channel = channel
        self.server = server
    }

    /// Stops (`true`) or resumes reading from the backend.
    func setReadPaused(_ paused: Bool) { handler?.setReadPaused(paused) }

    var isWritable: Bool { channel.isWritable }

    /// Writes one request part, on the connection's event loop. It enters the pipeline at the
    /// connection's own handler, wrapped by its concrete type: `channel.write` wraps generically
    /// (a run-time cast per part) and starts at the tail. The response decoder is told of each
    /// request head here (which responses have no body: HEAD) instead of observing the pipeline's
    /// writes, so the decoder's generic `ByteToMessageHandler` is no outbound handler and writes
    /// skip it. After the channel's pipeline is gone, the write fails as on a closed channel.
    func write(_ part: HTTPClientRequestPart, promise: EventLoopPromise<Void>? = nil) {
        guard let handler else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        handler.write(part, promise: promise)
    }

    /// Flushes what was written (from the connection's handler, as `write`).
    func flush() {
        if let handler { handler.flush() } else { channel.flush() }
    }

    /// Opens a TLS connection to `server` on `eventLoop`, verified against `pool`'s trust.
    /// Succeeds only after the TLS handshake completed, so connect and TLS failures are told
    /// apart from failures after the request was sent.
    static func connect(
        to server: BackendServer, pool: BackendPool,
        on eventLoop: EventLoop
    ) -> EventLoopFuture<BackendConnection> {
        let ready = eventLoop.makePromise(of: BackendConnection.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(pool.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let tls = OpenSSLHandler(client: pool.tls, serverName: server.tlsName)
                    try install(on: channel, server: server, tls: tls, ready: ready)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        bootstrap.connect(host: server.host, port: server.port).whenFailure { error in
            ready.fail(BackendError.connectFailed(server: server.name, reason: "\(error)"))
        }
        return ready.futureResult
    }

    /// Builds a backend connection's pipeline on `channel`: TLS (when given), the HTTP/1.1 request
    /// encoder and response decoder, and the handler that talks to the request. `ready` succeeds
    /// once the TLS handshake completed, or at once without TLS (in-memory tests, whose channel
    /// stands for the decrypted stream).
    static func install(
        on channel: Channel, server: BackendServer, tls: OpenSSLHandler?,
        ready: EventLoopPromise<BackendConnection>
    ) throws {
        let connection = BackendConnection(channel: channel, server: server)
        let decoder = BackendResponseDecoder(connection: connection)
        let handler = BackendChannelHandler(connection: connection, decoder: decoder, ready: tls == nil ? nil : ready)
        connection.handler = handler
        let sync = channel.pipeline.syncOperations
        if let tls { try sync.addHandler(tls) }
        // Gatehouse sets every request's framing headers itself (RequestFraming.apply) and the
        // encoder adds none: NIO's defaults would drop a GET's or DELETE's body framing and leave
        // the body's bytes to be parsed by the backend as the next request.
        try sync.addHandler(HTTP1RequestEncoder())
        try sync.addHandler(ByteToMessageHandler(decoder))
        try sync.addHandler(handler)
        if tls == nil { ready.succeed(connection) }
    }

    /// Closes the connection (idempotent).
    func close() {
        isClosed = true
        pool?.connectionClosed(self)
        channel.close(promise: nil)
    }
}

/// The last handler of a backend channel: completes the connect promise after the TLS handshake,
/// forwards response parts to the connection's delegate, and holds reads back on request.
private final class BackendChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let connection: BackendConnection
    /// The response decoder in front, told of each request head written (`write(_:promise:)`).
    private let decoder: BackendResponseDecoder
    private var ready: EventLoopPromise<BackendConnection>?
    private var readPaused = false
    private var readPending = false
    private var context: ChannelHandlerContext?
    /// Interim (1xx) responses since the last final head (`BackendResponseRules.maxInterimResponses`).
    private var interimResponses = 0

    init(connection: BackendConnection, decoder: BackendResponseDecoder, ready: EventLoopPromise<BackendConnection>?) {
        self.connection = connection
        self.decoder = decoder
        self.ready = ready
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// `BackendConnection.write`: the part goes out from this handler's place in the pipeline.
    func write(_ part: HTTPClientRequestPart, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.eventLoop.assertInEventLoop()
        if case .head = part { decoder.requestHeadWritten(part) }
        context.write(wrapOutboundOut(part), promise: promise)
    }

    /// `BackendConnection.flush`.
    func flush() { context?.flush() }

    func setReadPaused(_ paused: Bool) {
        guard paused != readPaused else { return }
        readPaused = paused
        if !paused, readPending, let context {
            readPending = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        // Backpressure: while the client cannot take more, hold the read so the kernel's receive
        // buffer fills and TCP slows the backend down. No unbounded buffering in between.
        if readPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event as? TLSUserEvent ?? .shutdownCompleted {
            ready?.succeed(connection)
            ready = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part {
            if let refusal = BackendResponseRules.refusal(of: head, interimSoFar: interimResponses) {
                // Before the request sees the head: a 502 when nothing was relayed yet.
                fail(.protocolError(server: connection.server.name, reason: refusal))
                context.close(promise: nil)
                return
            }
            let code = head.status.code
            interimResponses = (100..<200).contains(code) && code != 101 ? interimResponses + 1 : 0
        }
        connection.delegate?.backendDidReceive(part, on: connection)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.delegate?.backendReadComplete(on: connection)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.delegate?.backendWritabilityChanged(on: connection)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(BackendChannelHandler.classify(error, server: connection.server.name))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(BackendError.closedEarly(server: connection.server.name))
        context.fireChannelInactive()
    }

    private func fail(_ error: BackendError) {
        let wasClosed = connection.isClosed
        connection.isClosed = true
        // First the pool (idle list, pinned accounting), then the request using the connection.
        connection.pool?.connectionClosed(connection)
        if let ready {
            self.ready = nil
            ready.fail(error)
            return
        }
        if !wasClosed || connection.delegate != nil {
            let delegate = connection.delegate
            connection.delegate = nil
            delegate?.backendDidFail(error, on: connection)
        }
    }

    private static func classify(_ error: Error, server: String) -> BackendError {
        if let tls = error as? TLSError {
            return .tlsFailed(server: server, reason: tls.message)
        }
        if error is HTTPParserError || error is NIOHTTPDecoderError || error is BackendResponseDecoder.UnsolicitedBytes {
            return .protocolError(server: server, reason: "\(error)")
        }
        return .connectFailed(server: server, reason: "\(error)")
    }
}
