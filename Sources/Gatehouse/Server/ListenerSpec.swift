import GatehouseHTTP2
import GatehouseTLS

/// One address Gatehouse listens on.
public struct ListenerSpec: Sendable {
    public enum Kind: Sendable {
        /// TLS termination with SNI certificate selection, then HTTP/1.1 or (when `http2` is set
        /// and the client offers it by ALPN) HTTP/2.
        case tls(store: CertificateStore, http2: HTTP2Settings?)
        /// Plain HTTP that only redirects to HTTPS, for the hosts the policy's routing table lists.
        case redirect(RedirectPolicy)
        /// TLS pass-through: the ClientHello's SNI chooses a pool; the TLS stream goes to it unopened.
        case passthrough(PassthroughPlan)
    }

    public var name: String
    public var host: String
    public var port: Int
    public var kind: Kind
    /// Connection and TLS handshake metrics of a TLS listener; nil when metrics are off.
    public var metrics: ListenerMetrics?
    /// PROXY protocol before TLS or HTTP; nil: off. Read at accept time, so a reload applies it
    /// to new connections.
    public var proxyProtocol: ProxyProtocolConfiguration?

    public init(name: String, host: String, port: Int, kind: Kind, proxyProtocol: ProxyProtocolConfiguration? = nil) {
        self.name = name
        self.host = host
        self.port = port
        self.kind = kind
        self.proxyProtocol = proxyProtocol
    }

    /// The listener's identity across reloads (its address).
    var key: ListenerPlan.Key { ListenerPlan.Key(name: name, host: host, port: port) }
}
