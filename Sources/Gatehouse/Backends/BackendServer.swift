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

    public init(name: String, host: String, port: Int, tlsName: String, weight: Int = 1) {
        self.name = name
        self.host = host
        self.port = port
        self.tlsName = tlsName
        self.weight = weight
    }
}

/// A pool of backend servers that share one TLS client profile (the trust for their certificates).
public final class BackendPool: Sendable {
    public let name: String
    public let servers: [BackendServer]
    /// The TLS client context: trust anchors, policy, session cache for resumption.
    public let tls: TLSClientContext
    public let connectTimeout: TimeAmount
    public let idleTimeout: TimeAmount
    public let maxIdlePerServer: Int

    public init(name: String, servers: [BackendServer], tls: TLSClientContext,
                connectTimeout: TimeAmount, idleTimeout: TimeAmount, maxIdlePerServer: Int) {
        self.name = name
        self.servers = servers
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.maxIdlePerServer = maxIdlePerServer
    }
}
