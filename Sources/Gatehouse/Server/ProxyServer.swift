import GatehouseHTTP2
import GatehouseTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One address Gatehouse listens on.
public struct ListenerSpec: Sendable {
    public enum Kind: Sendable {
        /// TLS termination with SNI certificate selection, then HTTP/1.1 or (when `http2` is set
        /// and the client offers it by ALPN) HTTP/2.
        case tls(store: CertificateStore, http2: HTTP2Settings?)
        /// Plain HTTP that only redirects to HTTPS, for the hosts the policy's routing table lists.
        case redirect(RedirectPolicy)
    }

    public var name: String
    public var host: String
    public var port: Int
    public var kind: Kind

    public init(name: String, host: String, port: Int, kind: Kind) {
        self.name = name
        self.host = host
        self.port = port
        self.kind = kind
    }
}

/// The data plane: binds the listeners and proxies their connections to the backend pools.
/// Built from ready runtime pieces (certificate stores, pools, router) so tests and the
/// configuration-driven `GatehouseServer` share it.
public final class ProxyServer: Sendable {
    private let group: EventLoopGroup
    private let listeners: [ListenerSpec]
    /// Internal (not private) so the server can hand its pools to health checks and the admin endpoint.
    let environment: ProxyEnvironment
    private let limits: ClientLimits
    private let channels: NIOLockedValueBox<[Channel]> = .init([])
    /// Open client connections across all TLS listeners, against `limits.maxConnections`.
    private let tlsConnections: ConnectionCap
    /// Open client connections across all redirect listeners, against `limits.maxRedirectConnections`:
    /// a cap of their own, so plain-HTTP sockets cannot lock HTTPS clients out.
    private let redirectConnections: ConnectionCap

    public init(group: EventLoopGroup, listeners: [ListenerSpec], pools: [BackendPool],
                router: any ProxyRouter, limits: ClientLimits, logger: Logger, accessLog: Bool) {
        self.group = group
        self.listeners = listeners
        self.limits = limits
        self.tlsConnections = ConnectionCap(limit: limits.maxConnections, key: "max_connections")
        self.redirectConnections = ConnectionCap(limit: limits.maxRedirectConnections, key: "max_redirect_connections")
        self.environment = ProxyEnvironment(
            router: router, pools: BackendPoolRegistry(pools: pools, group: group), logger: logger,
            accessLog: accessLog ? AccessLog() : nil)
    }

    /// Binds every listener; returns the bound addresses in listener order (port 0 → real port).
    public func start() async throws -> [SocketAddress] {
        var bound: [SocketAddress] = []
        for spec in listeners {
            let channel = try await bootstrap(for: spec).bind(host: spec.host, port: spec.port).get()
            channels.withLockedValue { $0.append(channel) }
            if let address = channel.localAddress { bound.append(address) }
            environment.logger.info("listening", metadata: ["listener": "\(spec.name)", "address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        }
        return bound
    }

    /// Stops accepting, closes idle backend connections. In-flight requests on open client
    /// connections are cut when the event loop group shuts down.
    public func stop() async {
        let open = channels.withLockedValue { list in
            defer { list.removeAll() }
            return list
        }
        for channel in open {
            try? await channel.close()
        }
        environment.pools.closeAll()
    }

    private func bootstrap(for spec: ListenerSpec) -> ServerBootstrap {
        let environment = self.environment
        let limits = self.limits
        let cap: ConnectionCap
        switch spec.kind {
        case .tls: cap = tlsConnections
        case .redirect: cap = redirectConnections
        }
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // The connection cap: count every accepted connection until it closes; beyond the
                // limit, close at once (before any TLS work) so a flood cannot exhaust memory or fds.
                if case .refused(let firstOfBurst) = cap.admit() {
                    if firstOfBurst {
                        environment.logger.warning("connection limit reached; refusing new connections", metadata: [
                            "listener": "\(spec.name)", "\(cap.key)": "\(cap.limit)"])
                    }
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in cap.release() }
                do {
                    switch spec.kind {
                    case .tls(let store, let http2):
                        try ClientPipeline.configureTLS(channel: channel, store: store, environment: environment,
                                                        limits: limits, http2: http2)
                    case .redirect(let policy):
                        try ClientPipeline.configureRedirect(channel: channel, policy: policy, limits: limits)
                    }
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
    }
}
