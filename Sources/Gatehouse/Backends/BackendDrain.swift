import NIOCore
import NIOHTTP1

/// Reads and discards the rest of a response whose request was abandoned after it was sent in
/// full (its client went away, or a clock ran out), so that the backend connection goes back to the
/// pool instead of being closed. A mailbox server behind Gatehouse would otherwise pay a new TLS
/// handshake for every phone that drops its connection mid-request (issue 18).
///
/// Bounded: the response must end within `maxBytes` more bytes and `maxTime`, with a keep-alive
/// head whose framing says where it ends; anything else closes the connection, as before. The lease
/// stays open (the server counts the exchange as in flight) until the drain ends it exactly once.
/// While draining, the drain is the connection's delegate, so the response decoder still treats
/// the bytes as asked for; a byte after the end fails the connection as usual.
final class BackendDrain: BackendConnectionDelegate {
    /// Response bytes read at most before the connection is closed instead.
    static let maxBytes = 256 * 1024
    /// How long the rest of the response may take (a held long poll is not waited for).
    static let maxTime = TimeAmount.seconds(2)

    private let connection: BackendConnection
    private let pool: LoopBackendPool
    private var lease: BackendLease?
    private let requestMethod: HTTPMethod
    /// Whether the response, once it ends, leaves the connection reusable: false until a final
    /// (2xx-5xx) head with keep-alive and known framing has been seen, here or by the request.
    private var reusable: Bool
    private var bytes = 0
    private var timer: Scheduled<Void>?

    /// `headReusable`: nil when the response head has not arrived yet; else whether it keeps the
    /// connection and says where the body ends.
    private init(
        lease: consuming BackendLease, connection: BackendConnection, pool: LoopBackendPool,
        requestMethod: HTTPMethod, headReusable: Bool?
    ) {
        self.lease = consume lease
        self.connection = connection
        self.pool = pool
        self.requestMethod = requestMethod
        self.reusable = headReusable ?? false
    }

    /// Starts draining `connection` for `lease`, or closes it and ends the lease when it cannot be
    /// drained (`drainable` false: the request was not sent in full, the connection carries
    /// NTLM/Negotiate, it is closed, or its response head already said it cannot be reused).
    static func drainOrClose(
        _ lease: consuming BackendLease, connection: BackendConnection, pool: LoopBackendPool,
        requestMethod: HTTPMethod, drainable: Bool, headReusable: Bool?
    ) {
        connection.delegate = nil
        guard drainable, headReusable != false, !connection.isClosed, !connection.carriesConnectionAuth,
            connection.pool === pool, connection.channel.isActive
        else {
            connection.close()
            pool.abandon(lease)
            return
        }
        let drain = BackendDrain(
            lease: lease, connection: connection, pool: pool, requestMethod: requestMethod,
            headReusable: headReusable)
        // The connection holds the drain (its delegate reference is weak) until the drain ends.
        connection.drain = drain
        connection.delegate = drain
        connection.setReadPaused(false)
        drain.timer = connection.channel.eventLoop.assumeIsolated().scheduleTask(in: maxTime) { [weak drain] in
            drain?.finish(reusable: false)
        }
    }

    func backendDidReceive(_ part: HTTPClientResponsePart, on connection: BackendConnection) {
        switch part {
        case .head(let head):
            if head.status == .switchingProtocols {
                // What follows is another protocol: never pooled.
                finish(reusable: false)
                return
            }
            guard head.status.code >= 200 else { return }  // 100 Continue and friends
            reusable =
                head.isKeepAlive
                && ProxiedRequest.responseFramingIsKnown(head, requestMethod: requestMethod)
            if !reusable { finish(reusable: false) }
        case .body(let buffer):
            bytes += buffer.readableBytes
            if bytes > Self.maxBytes { finish(reusable: false) }
        case .end:
            finish(reusable: reusable)
        }
    }

    func backendReadComplete(on connection: BackendConnection) {}

    func backendWritabilityChanged(on connection: BackendConnection) {}

    func backendDidFail(_ error: Error, on connection: BackendConnection) {
        finish(reusable: false)
    }

    /// Ends the drain once: the connection goes back to the pool, or is closed.
    private func finish(reusable: Bool) {
        guard let lease = lease.take() else { return }
        timer?.cancel()
        timer = nil
        connection.drain = nil
        if reusable {
            pool.release(lease, connection: connection, reusable: true)
        } else {
            connection.delegate = nil
            connection.close()
            pool.abandon(lease)
        }
    }
}
