/// The validated, immutable configuration of one Gatehouse process.
///
/// Built only by `load(path:)` (or `parse(yaml:path:)`): every path is absolute, every reference
/// resolved, every default applied. The proxy, routing and certificate code read it.
public struct GatehouseConfiguration: Sendable {
    /// The absolute path of the file this configuration came from.
    public var sourcePath: String
    /// The listeners, in file order.
    public var listeners: [ListenerConfiguration]
    /// Global limits on client connections.
    public var limits: ClientLimits
    /// The backend pools by name.
    public var pools: [String: PoolConfiguration]
    /// The virtual services, in file order.
    public var services: [VirtualServiceConfiguration]
    /// The status answered for a host no service covers.
    public var unknownHostStatus: UnknownHostStatus
    /// The admin endpoint (metrics, state), if configured.
    public var admin: AdminConfiguration?
    /// The rule packs (`screening: { packs: [...] }`), compiled; nil when none is configured, so
    /// the data path does no pack work at all.
    public var screening: ScreeningPacks?
    /// The access log's format and destination (`access_log:`); text on standard output by default.
    public var accessLog = AccessLogConfiguration()
}

/// Global limits on client connections.
public struct ClientLimits: Sendable, Hashable {
    /// The longest single request header line, in bytes (Kerberos tokens are big: 64 KiB).
    public var maxHeaderLine: Int
    /// The largest request head (all header lines), in bytes.
    public var maxHeaderTotal: Int
    /// Client connections accepted at once over all TLS listeners.
    public var maxConnections: Int
    /// Client connections accepted at once over all plain-HTTP redirect listeners: a cap of their
    /// own, so idle sockets on the redirect port can never use up the TLS listeners' `maxConnections`.
    public var maxRedirectConnections: Int
    /// How long a client may take to send a complete request head (on redirect listeners: the
    /// whole request, whose body is read and dropped).
    public var clientHeaderTimeout: Duration
    /// How long a client connection may stay idle with no request in progress. On HTTP/2 this is
    /// the session's one idle clock, which ends the connection with GOAWAY(NO_ERROR).
    public var clientIdleTimeout: Duration
    /// On SIGTERM/SIGINT, how long in-flight requests may run after Gatehouse stops accepting;
    /// what is still open then is closed.
    public var shutdownGrace: Duration
    /// `limits.http2`: the per-connection HTTP/2 limits advertised in SETTINGS.
    public var http2 = HTTP2Limits()

    /// Limits; defaults are the configuration file's.
    public init(
        maxHeaderLine: Int = 64 * ByteSize.kibibyte, maxHeaderTotal: Int = 256 * ByteSize.kibibyte,
        maxConnections: Int = 20_000, clientHeaderTimeout: Duration = .seconds(30),
        clientIdleTimeout: Duration = .seconds(120), maxRedirectConnections: Int = 1024,
        shutdownGrace: Duration = .seconds(30)
    ) {
        self.maxHeaderLine = maxHeaderLine
        self.maxHeaderTotal = maxHeaderTotal
        self.maxConnections = maxConnections
        self.maxRedirectConnections = maxRedirectConnections
        self.clientHeaderTimeout = clientHeaderTimeout
        self.clientIdleTimeout = clientIdleTimeout
        self.shutdownGrace = shutdownGrace
    }
}

/// What one HTTP/2 client connection may hold open (`limits.http2`); the defaults are
/// `HTTP2Settings`'s. Kept apart from `HTTP2Settings` so the file's keys are exactly these.
public struct HTTP2Limits: Sendable, Hashable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at once.
    public var maxConcurrentStreams = 100
    /// SETTINGS_INITIAL_WINDOW_SIZE: request-body bytes a stream may send ahead of its backend.
    public var initialWindowSize = 64 * ByteSize.kibibyte
    /// The connection-level receive window: request-body bytes of all streams ahead of their backends.
    public var connectionWindowSize = 16 * ByteSize.mebibyte
    /// The window a stream gets once its body flows to a backend (`HTTP2Settings.uploadWindowSize`).
    public var uploadWindowSize = ByteSize.mebibyte

    /// The limits that `max_concurrent_streams` may take.
    public static let streamRange = 1...1000
    /// The window sizes a file may set: at least the protocol's initial 65,535-byte window for the
    /// connection (it can only be opened further), at most 2^31-1 (RFC 9113 §6.9.1).
    public static let streamWindowRange = 1024...Int(Int32.max)
    public static let connectionWindowRange = 65_535...Int(Int32.max)

    public init() {}
}

/// The status code for requests whose host no virtual service covers.
public enum UnknownHostStatus: Int, Sendable, Hashable, CaseIterable {
    /// 421 Misdirected Request: lets an HTTP/2 client retry on a connection for the right host.
    case misdirected = 421
    /// 404 Not Found.
    case notFound = 404
}

/// The admin endpoint: metrics and state over plain HTTP, meant for loopback or a management network.
public struct AdminConfiguration: Sendable, Hashable {
    /// Where the admin endpoint listens.
    public var address: SocketEndpoint

    /// An admin endpoint.
    public init(address: SocketEndpoint) {
        self.address = address
    }
}
