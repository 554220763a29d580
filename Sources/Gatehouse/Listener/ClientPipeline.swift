import GatehouseHTTP1
import GatehouseHTTP2
import GatehouseTLS
import NIOCore
import NIOHTTP1
import NIOTLS

/// Builds a client connection's pipeline: TLS first, then, once ALPN has chosen, either the
/// HTTP/1.1 codec + adapter or the HTTP/2 handler, then the proxy.
enum ClientPipeline {
    /// Installs the TLS handler and the protocol switch on a freshly accepted channel.
    /// `live` (nil in tests) lets each request read the current runtime (see `LiveRuntime`).
    static func configureTLS(
        channel: Channel, store: CertificateStore, environment: ProxyEnvironment,
        limits: ClientLimits, http2: HTTP2Settings?, metrics: ListenerMetrics? = nil,
        live: LiveRuntime? = nil, client: ConnectionClientAddress? = nil
    ) throws {
        let tls = OpenSSLHandler(server: store)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(tls)
        try sync.addHandler(
            ProtocolSwitchHandler(
                tls: tls, environment: environment, limits: limits, http2: http2,
                metrics: metrics, live: live, client: client ?? ConnectionClientAddress(peer: channel.remoteAddress)))
    }

    /// The plain-HTTP redirect listener's pipeline: the header and idle clocks (the same
    /// `client_header_timeout` and `client_idle_timeout` as the TLS listeners), the HTTP/1.1 codec
    /// with the same size limits, and the redirect answer.
    static func configureRedirect(channel: Channel, policy: RedirectPolicy, limits: ClientLimits) throws {
        let sync = channel.pipeline.syncOperations
        let clock = HeaderTimeoutHandler(
            timeout: TimeAmount(limits.clientHeaderTimeout),
            idleTimeout: TimeAmount(limits.clientIdleTimeout))
        try sync.addHandler(clock)
        try addHTTP1Codec(to: sync, limits: limits)
        try sync.addHandler(RedirectHandler(policy: policy, clock: clock))
    }

    /// The HTTP/1.1 handlers, added at the end of the pipeline once TLS is up. The connection's
    /// clocks (`client_header_timeout`, `client_idle_timeout`) are one `HeaderTimeoutHandler`, as
    /// on the redirect listener.
    static func addHTTP1(
        to channel: Channel, environment: ProxyEnvironment, facts: ClientConnectionFacts,
        limits: ClientLimits, live: LiveRuntime? = nil
    ) throws {
        let sync = channel.pipeline.syncOperations
        let headerClock = HeaderTimeoutHandler(
            timeout: TimeAmount(limits.clientHeaderTimeout),
            idleTimeout: TimeAmount(limits.clientIdleTimeout))
        try sync.addHandler(headerClock)
        let logger = environment.logger
        let client = facts.clientIP.map { "\($0)" } ?? "?"
        try addHTTP1Codec(to: sync, limits: limits) { error in
            logger.debug(
                "malformed request",
                metadata: [
                    "client": "\(client)", "reason": "\(error.reason.rawValue)", "error": "\(error.message)"
                ])
        }
        // Adjacent and linked: request and response parts pass between them by direct calls.
        let adapter = HTTP1ServerAdapter(headerTimeout: headerClock)
        let proxy = ProxyHandler(environment: environment, facts: facts, clientProtocol: .http1, live: live)
        try sync.addHandler(adapter)
        try sync.addHandler(proxy)
        adapter.link(proxy)
    }

    /// The HTTP/1.1 server codec, shared by TLS and redirect listeners: the response encoder, our
    /// request decoder (which accepts extension methods such as RPC_IN_DATA, unlike NIO's llhttp
    /// one), the translator that lets `HTTPServerPipelineHandler` hold a decoder error back until
    /// earlier pipelined responses are out, and the handler that answers it (400, 431 or 505, with
    /// `Connection: close`). `onError` sees each decoder error in detail, for logs.
    static func addHTTP1Codec(
        to sync: ChannelPipeline.SynchronousOperations, limits: ClientLimits,
        onError: (@Sendable (HTTP1DecoderError) -> Void)? = nil
    ) throws {
        let decoderLimits = HTTP1RequestDecoder.Limits(
            maxFieldLineBytes: limits.maxHeaderLine, maxHeadBytes: limits.maxHeaderTotal, maxFieldCount: 500)
        // Framing headers are set by whoever writes the head (HTTP1ServerAdapter.frame for the
        // proxy; fixed Content-Length for local answers): NIO's defaults would add chunked
        // framing, and a `0` chunk, to a HEAD response without Content-Length.
        var encoding = HTTPResponseEncoder.Configuration()
        encoding.automaticallySetFramingHeaders = false
        try sync.addHandler(HTTPResponseEncoder(configuration: encoding))
        try sync.addHandler(ByteToMessageHandler(HTTP1RequestDecoder(limits: decoderLimits)))
        try sync.addHandler(HTTP1DecoderErrorTranslator(onError: onError))
        try sync.addHandler(HTTPServerPipelineHandler())
        try sync.addHandler(HTTP1ProtocolErrorHandler())
    }

    /// The HTTP/2 handlers.
    static func addHTTP2(
        to channel: Channel, environment: ProxyEnvironment, facts: ClientConnectionFacts,
        settings: HTTP2Settings, live: LiveRuntime? = nil
    ) throws {
        let sync = channel.pipeline.syncOperations
        // Adjacent and linked, as on HTTP/1.1: parts pass between them by direct calls.
        let http2Handler = HTTP2ServerHandler(settings: settings)
        let proxy = ProxyHandler(environment: environment, facts: facts, clientProtocol: .http2, live: live)
        try sync.addHandler(http2Handler)
        try sync.addHandler(proxy)
        http2Handler.receiver = proxy
        proxy.http2Handler = http2Handler
    }
}

/// Waits for the TLS handshake, then installs the protocol ALPN chose, synchronously, before the
/// first decrypted bytes move on (the client's Finished and first request often share one read).
final class ProtocolSwitchHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let tls: OpenSSLHandler
    private let environment: ProxyEnvironment
    private let limits: ClientLimits
    private let http2: HTTP2Settings?
    private let metrics: ListenerMetrics?
    private let live: LiveRuntime?
    private let client: ConnectionClientAddress

    init(
        tls: OpenSSLHandler, environment: ProxyEnvironment, limits: ClientLimits, http2: HTTP2Settings?,
        metrics: ListenerMetrics? = nil, live: LiveRuntime? = nil, client: ConnectionClientAddress
    ) {
        self.tls = tls
        self.client = client
        self.metrics = metrics
        self.environment = environment
        self.limits = limits
        self.http2 = http2
        self.live = live
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
