import GatehouseHTTP1
import GatehouseHTTP2
import GatehouseTLS
import NIOCore
import NIOHTTP1
import NIOTLS

/// Builds a client connection's pipeline: TLS first, then, once ALPN has chosen, either the
/// HTTP/1.1 codec + adapter or the HTTP/2 handler, then the proxy.
enum ClientPipeline {
    /// How client connections size their socket reads: NIO's adaptive allocator (2 KiB at first,
    /// growing while reads fill the buffer, shrinking after small ones) capped at 16 KiB, the size
    /// nginx reads unbuffered request bodies in (`client_body_buffer_size`). The cap bounds memory:
    /// NIO keeps each connection's receive buffer for the connection's life at the largest size it
    /// ever grew to, so with NIO's 64 KiB maximum every keep-alive connection that once uploaded a
    /// body held 64 KiB more while idle (an ActiveSync SendMail or an Outlook attachment is enough).
    /// Measured on idle connections after a 1 MiB upload each: 87.9 KiB per connection with 64 KiB,
    /// 38.5 with 16 KiB (23 after a GET alone). The price is more, smaller reads on uploads: +11 %
    /// instructions per MiB over HTTP/1.1, +4 % over HTTP/2 (`loadtest/callgrind.sh upload`).
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 16 * 1024)

    /// Installs the TLS handler and the protocol switch on a freshly accepted channel.
    /// `live` (nil in tests) lets each request read the current runtime (see `LiveRuntime`).
    static func configureTLS(
        channel: Channel, store: CertificateStore, environment: ProxyEnvironment,
        limits: ClientLimits, http2: HTTP2Settings?, metrics: ListenerMetrics? = nil,
        live: LiveRuntime? = nil, client: ConnectionClientAddress? = nil
    ) throws {
        // The handshake timeout is kept by ProtocolSwitchHandler on the loop's ConnectionClock:
        // no scheduled task per connection.
        let tls = OpenSSLHandler(server: store, armsHandshakeTimer: false)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(tls)
        try sync.addHandler(
            ProtocolSwitchHandler(
                tls: tls, environment: environment, limits: limits, http2: http2,
                metrics: metrics, live: live, client: client ?? ConnectionClientAddress(peer: channel.remoteAddress),
                handshakeTimeout: store.policy.handshakeTimeout))
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
        try addHTTP1Codec(to: sync, limits: limits, answersErrors: true)
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
        let client = facts.clientIPText ?? "?"
        try addHTTP1Codec(to: sync, limits: limits, answersErrors: false) { error in
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
        proxy.link(to: adapter)
    }

    /// The HTTP/1.1 server codec, shared by TLS and redirect listeners: the response encoder, our
    /// request decoder (which accepts extension methods such as RPC_IN_DATA, unlike NIO's llhttp
    /// one), the translator that lets `HTTPServerPipelineHandler` hold a decoder error back until
    /// earlier pipelined responses are out, and, when `answersErrors`, the handler that answers it
    /// (400, 431 or 505, with `Connection: close`; on proxy connections `HTTP1ServerAdapter` does
    /// that itself). `onError` sees each decoder error in detail, for logs.
    static func addHTTP1Codec(
        to sync: ChannelPipeline.SynchronousOperations, limits: ClientLimits, answersErrors: Bool,
        onError: (@Sendable (HTTP1DecoderError) -> Void)? = nil
    ) throws {
        let decoderLimits = HTTP1RequestDecoder.Limits(
            maxFieldLineBytes: limits.maxHeaderLine, maxHeadBytes: limits.maxHeaderTotal, maxFieldCount: 500)
        // Framing headers are set by whoever writes the head (HTTP1ServerAdapter.frame for the
        // proxy; fixed Content-Length for local answers); the encoder adds none (NIO's defaults
        // would add chunked framing, and a `0` chunk, to a HEAD response without Content-Length).
        try sync.addHandler(HTTP1ResponseEncoder())
        try sync.addHandler(ByteToMessageHandler(HTTP1RequestDecoder(limits: decoderLimits)))
        try sync.addHandler(HTTP1DecoderErrorTranslator(onError: onError))
        try sync.addHandler(HTTPServerPipelineHandler())
        if answersErrors { try sync.addHandler(HTTP1ProtocolErrorHandler()) }
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
        proxy.link(to: http2Handler)
    }
}
