import GatehouseHTTP1
import GatehouseHTTP2
import GatehouseTLS
import NIOCore
import NIOTLS

/// Waits for the TLS handshake, then installs the protocol ALPN chose, synchronously, before the
/// first decrypted bytes move on (the client's Finished and first request often share one read).
///
/// It also keeps the handshake timeout (`tls.handshake_timeout`) for the `OpenSSLHandler` before
/// it, which then schedules no timer of its own: one entry on the event loop's `ConnectionClock`
/// from the time the connection is active until the handshake ends (this handler then leaves the
/// pipeline), instead of a scheduled task per connection, armed and cancelled on every handshake
/// (several allocations, a heap operation and often a `timerfd_settime`). The clock fires at most
/// one tick (100 ms) after the timeout, never before; `OpenSSLHandler.handshakeTimedOut` then fails
/// the handshake as its own timer did.
final class ProtocolSwitchHandler: ChannelInboundHandler, RemovableChannelHandler, ConnectionClockClient {
    typealias InboundIn = ByteBuffer

    private let tls: OpenSSLHandler
    private let environment: ProxyEnvironment
    private let limits: ClientLimits
    private let http2: HTTP2Settings?
    private let metrics: ListenerMetrics?
    private let live: LiveRuntime?
    private let client: ConnectionClientAddress
    private let handshakeTimeout: TimeAmount
    /// The handshake's entry on the loop's clock, from handlerAdded to handlerRemoved.
    private var clock: ConnectionClock?
    private var entry: ConnectionClock.Entry?
    private var context: ChannelHandlerContext?

    init(
        tls: OpenSSLHandler, environment: ProxyEnvironment, limits: ClientLimits, http2: HTTP2Settings?,
        metrics: ListenerMetrics? = nil, live: LiveRuntime? = nil, client: ConnectionClientAddress,
        handshakeTimeout: TimeAmount
    ) {
        self.tls = tls
        self.handshakeTimeout = handshakeTimeout
        self.client = client
        self.metrics = metrics
        self.environment = environment
        self.limits = limits
        self.http2 = http2
        self.live = live
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let clock = ConnectionClock.on(context.eventLoop)
        self.clock = clock
        entry = clock.add(self)
        // The TLS handler starts its handshake when the channel becomes active (or at once if it is).
        if context.channel.isActive { armHandshakeDeadline(now: context.eventLoop.now) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let clock, let entry { clock.remove(entry) }
        clock = nil
        entry = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        armHandshakeDeadline(now: context.eventLoop.now)
        context.fireChannelActive()
    }

    private func armHandshakeDeadline(now: NIODeadline) {
        guard let clock, let entry else { return }
        clock.arm(entry, at: now + handshakeTimeout)
    }

    /// The handshake timeout has passed (this handler is still here, so the handshake has not
    /// completed): the TLS handler fails it with `.handshakeTimeout` and closes the connection.
    func connectionClockFired(now: NIODeadline) {
        guard let context else { return }
        guard let tlsContext = try? context.pipeline.syncOperations.context(handler: tls) else {
            context.close(promise: nil)
            return
        }
        tls.handshakeTimedOut(context: tlsContext)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Draining (graceful stop, listener removed) before the handshake is done: no request
            // has been read, so there is nothing to finish.
            context.close(promise: nil)
            return
        }
        guard case .handshakeCompleted(let negotiated) = event as? TLSUserEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let info = tls.connectionInfo
        let served = info?.servedNames
        let coverage = HostCoverageMemo { host in served?.covers(hostName: host) ?? false }
        var facts = ClientConnectionFacts(
            clientIP: client.address,
            isTLS: true,
            serverName: info?.serverName,
            certificateCovers: { host in coverage.covers(host) })
        facts.clientCertificate = info?.clientCertificate
        if let metrics {
            let open = metrics.handshakeCompleted(info, http2: negotiated == "h2" && http2 != nil)
            context.channel.closeFuture.whenComplete { _ in open.decrement() }
        }
        do {
            if negotiated == "h2", let http2 {
                try ClientPipeline.addHTTP2(
                    to: context.channel, environment: environment, facts: facts, settings: http2,
                    live: live)
            } else {
                try ClientPipeline.addHTTP1(
                    to: context.channel, environment: environment, facts: facts, limits: limits,
                    live: live)
            }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            environment.logger.error("cannot set up the client pipeline", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// An error before the handshake finished (this handler leaves the pipeline once it has): a
    /// failed handshake, counted for metrics and passed on.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        metrics?.handshakeFailed(error)
        if let tls = error as? TLSError, tls.message.contains("client certificate") || tls.message.contains("peer did not return") {
            // A refused client certificate is worth a line (the operator asked for verification);
            // the message holds OpenSSL's reason, never text from the certificate.
            environment.logger.info(
                "TLS handshake failed: client certificate refused",
                metadata: ["client": "\(client.address.map { "\($0)" } ?? "?")", "error": "\(tls.message)"])
        }
        context.fireErrorCaught(error)
    }
}
