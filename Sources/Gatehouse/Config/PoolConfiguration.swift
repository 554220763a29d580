/// A pool of backend servers that serve routes, with how they are trusted, balanced and probed.
public struct PoolConfiguration: Sendable, Hashable {
    /// The pool's name (its key under `pools:`).
    public var name: String
    /// The servers, in configuration order.
    public var servers: [BackendServerConfiguration]
    /// How backend certificates are verified.
    public var trust: BackendTrustConfiguration
    /// How requests are spread over healthy servers.
    public var balance: BalancePolicy
    /// Idle keep-alive connections kept per server (per event loop pool, summed).
    public var maxIdlePerServer: Int
    /// How long an idle backend connection is kept.
    public var idleTimeout: Duration
    /// TCP connect plus TLS handshake limit for new backend connections.
    public var connectTimeout: Duration
    /// Active health checks (per route's health path).
    public var health: HealthCheckConfiguration
    /// Backend connections dedicated to NTLM/Negotiate clients, per server (503 beyond it).
    public var maxPinnedPerServer: Int
    /// New connections being opened (TCP + TLS) to one server from one event loop at a time; further
    /// requests for a new connection queue for a slot (a flood of requests cannot become a flood of
    /// backend handshakes).
    public var maxConnectingPerServer: Int
    /// How long a request waits in that queue (for a connect slot or a released connection) before
    /// it is answered 503.
    public var queueTimeout: Duration

    /// A pool; defaults match the configuration file's.
    public init(
        name: String, servers: [BackendServerConfiguration], trust: BackendTrustConfiguration,
        balance: BalancePolicy = .leastRequests, maxIdlePerServer: Int = 64, idleTimeout: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(5), health: HealthCheckConfiguration = HealthCheckConfiguration(),
        maxPinnedPerServer: Int = 1000, maxConnectingPerServer: Int = 32, queueTimeout: Duration = .seconds(3)
    ) {
        self.name = name
        self.servers = servers
        self.trust = trust
        self.balance = balance
        self.maxIdlePerServer = maxIdlePerServer
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
        self.health = health
        self.maxPinnedPerServer = maxPinnedPerServer
        self.maxConnectingPerServer = maxConnectingPerServer
        self.queueTimeout = queueTimeout
    }
}

/// One backend server of a pool.
public struct BackendServerConfiguration: Sendable, Hashable {
    /// The server's name, unique in its pool (for logs, metrics and health state).
    public var name: String
    /// Where to connect.
    public var address: SocketEndpoint
    /// The name sent as SNI and checked against the backend certificate (defaults to the host).
    public var tlsName: String
    /// Relative share of requests (1 ... 1000).
    public var weight: Int
    /// Whether the server starts drained: it gets no new requests until undrained (admin endpoint).
    public var drain: Bool

    /// A server.
    public init(name: String, address: SocketEndpoint, tlsName: String? = nil, weight: Int = 1, drain: Bool = false) {
        self.name = name
        self.address = address
        self.tlsName = tlsName ?? address.host
        self.weight = weight
        self.drain = drain
    }
}

/// What backend certificates are verified against. Exchange backends present self-signed
/// certificates, so the usual setting is to list those certificates (or their CA) explicitly.
public struct BackendTrustConfiguration: Sendable, Hashable {
    /// Absolute paths of PEM certificates trusted as anchors (self-signed backend certificates).
    public var certificates: [String]
    /// An absolute path of a PEM CA bundle, if any.
    public var caBundle: String?
    /// SHA-256 fingerprints (lower-case hex, no separators) of acceptable backend leaf certificates.
    public var pinSHA256: [String]
    /// Whether the system's public CA store is trusted as well.
    public var systemStore: Bool

    /// A trust configuration.
    public init(certificates: [String] = [], caBundle: String? = nil, pinSHA256: [String] = [], systemStore: Bool = false) {
        self.certificates = certificates
        self.caBundle = caBundle
        self.pinSHA256 = pinSHA256
        self.systemStore = systemStore
    }
}

/// How a pool spreads requests over its healthy servers.
public enum BalancePolicy: String, Sendable, Hashable, CaseIterable {
    /// The server with the fewest requests in flight (weighted); good with hour-long ActiveSync pings.
    case leastRequests = "least_requests"
    /// Each server in turn (weighted).
    case roundRobin = "round_robin"
}

/// Active health-check settings of a pool.
public struct HealthCheckConfiguration: Sendable, Hashable {
    /// Time between probes of one server and path.
    public var interval: Duration
    /// How long a probe may take.
    public var timeout: Duration
    /// Consecutive successes that bring an unhealthy server back.
    public var rise: Int
    /// Consecutive failures that take a healthy server out.
    public var fall: Int
    /// Whether servers are probed at all (off: only passive ejection, e.g. for backends that
    /// serve no `healthcheck.htm`).
    public var enabled: Bool

    /// Health-check settings.
    public init(
        interval: Duration = .seconds(2), timeout: Duration = .seconds(1), rise: Int = 2, fall: Int = 3,
        enabled: Bool = true
    ) {
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.enabled = enabled
    }
}
