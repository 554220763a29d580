import GatehouseTLS
import NIOCore

/// One configured backend server: where to connect and which TLS name to verify.
public struct BackendServer: Sendable, Hashable {
    /// The server's configured name (e.g. "mbx01"), used in logs and state.
    public var name: String
    /// The host part of its address (IP literal or resolvable name).
    public var host: String
    public var port: Int
    /// The name sent as SNI and verified against the backend's certificate.
    public var tlsName: String
    public var weight: Int
    /// Whether it starts drained (no new requests until undrained through the admin endpoint).
    public var drain: Bool

    public init(name: String, host: String, port: Int, tlsName: String, weight: Int = 1, drain: Bool = false) {
        self.name = name
        self.host = host
        self.port = port
        self.tlsName = tlsName
        self.weight = weight
        self.drain = drain
    }
}

/// Opens a connection to `server` of `pool` on an event loop; succeeds once it can carry requests.
typealias BackendConnector =
    @Sendable (_ server: BackendServer, _ pool: BackendPool, _ eventLoop: EventLoop)
    -> EventLoopFuture<BackendConnection>

/// A pool of backend servers that share one TLS client profile (the trust for their certificates),
/// a balancing policy and active health checks.
public final class BackendPool: Sendable {
    public let name: String
    public let servers: [BackendServer]
    /// The TLS client context: trust anchors, policy, session cache for resumption.
    public let tls: TLSClientContext
    public let connectTimeout: TimeAmount
    public let idleTimeout: TimeAmount
    public let maxIdlePerServer: Int
    /// Connects in flight per server per event loop; more requests queue for a slot.
    public let maxConnectingPerServer: Int
    /// How long a request waits in that queue before it is answered 503.
    public let queueTimeout: TimeAmount
    public let balance: BalancePolicy
    public let health: HealthCheckConfiguration
    /// The distinct health-check paths of the routes using this pool (`/EWS/healthcheck.htm`...);
    /// a route's `RoutePolicy.healthService` indexes this list.
    public let healthPaths: [String]
    /// The service name of each health path (its first path segment, lower case), for logs and state.
    let healthLabels: [String]
    /// Connections dedicated to NTLM/Negotiate clients per server, over all event loops.
    let pinned: PinnedBudget
    /// Rendezvous-hash seed per server (from its name).
    let hashSeeds: [UInt64]
    /// Passive ejection per (server, health service), shared by all event loops.
    let ejection: PassiveEjectionTable
    /// How the data path opens a connection to a server: TLS over TCP (`BackendConnection.connect`).
    let connector: BackendConnector

    public convenience init(
        name: String, servers: [BackendServer], tls: TLSClientContext,
        connectTimeout: TimeAmount, idleTimeout: TimeAmount, maxIdlePerServer: Int,
        balance: BalancePolicy = .leastRequests,
        health: HealthCheckConfiguration = HealthCheckConfiguration(),
        healthPaths: [String] = [], maxPinnedPerServer: Int = 1000, maxConnectingPerServer: Int = 32,
        queueTimeout: TimeAmount = .seconds(3)
    ) {
        self.init(
            name: name, servers: servers, tls: tls, connectTimeout: connectTimeout, idleTimeout: idleTimeout,
            maxIdlePerServer: maxIdlePerServer, balance: balance, health: health, healthPaths: healthPaths,
            maxPinnedPerServer: maxPinnedPerServer, maxConnectingPerServer: maxConnectingPerServer,
            queueTimeout: queueTimeout, connector: { BackendConnection.connect(to: $0, pool: $1, on: $2) })
    }

    /// A pool whose connections `connector` opens (in-memory tests hand out embedded channels).
    init(
        name: String, servers: [BackendServer], tls: TLSClientContext,
        connectTimeout: TimeAmount, idleTimeout: TimeAmount, maxIdlePerServer: Int,
        balance: BalancePolicy, health: HealthCheckConfiguration,
        healthPaths: [String], maxPinnedPerServer: Int, maxConnectingPerServer: Int,
        queueTimeout: TimeAmount, connector: @escaping BackendConnector
    ) {
        self.connector = connector
        self.name = name
        self.servers = servers
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.maxIdlePerServer = maxIdlePerServer
        self.maxConnectingPerServer = maxConnectingPerServer
        self.queueTimeout = queueTimeout
        self.balance = balance
        self.health = health
        self.healthPaths = healthPaths
        self.healthLabels = healthPaths.map { path in
            String(path.split(separator: "/").first ?? Substring(path)).lowercased()
        }
        self.pinned = PinnedBudget(servers: servers.count, limit: maxPinnedPerServer)
        self.hashSeeds = servers.map { RendezvousHash.seed(serverName: $0.name) }
        self.ejection = PassiveEjectionTable(servers: servers.count, services: healthPaths.count)
    }
}
