import Atomics
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
        /// Plain HTTP that only redirects to HTTPS on `httpsPort`.
        case redirect(httpsPort: Int)
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
    /// Open client connections across all listeners, against `limits.maxConnections`.
    private let openConnections = ManagedAtomic<Int>(0)
    /// Refused connections since the last warning (one warning per burst, not per connection).
    private let refusedConnections = ManagedAtomic<Int>(0)

    public init(group: EventLoopGroup, listeners: [ListenerSpec], pools: [BackendPool],
                router: any ProxyRouter, limits: ClientLimits, logger: Logger, accessLog: Bool) {
        self.group = group
        self.listeners = listeners
        self.limits = limits
        self.environment = ProxyEnvironment(
            router: router, pools: BackendPoolRegistry(pools: pools, group: group), logger: logger,
            accessLog: accessLog ? AccessLog() : nil, clientIdleTimeout: TimeAmount(limits.clientIdleTimeout))
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
        let openConnections = self.openConnections
        let refusedConnections = self.refusedConnections
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // The connection cap: count every accepted connection until it closes; beyond the
                // limit, close at once (before any TLS work) so a flood cannot exhaust memory or fds.
                if openConnections.wrappingIncrementThenLoad(ordering: .relaxed) > limits.maxConnections {
                    openConnections.wrappingDecrement(ordering: .relaxed)
                    if refusedConnections.wrappingIncrementThenLoad(ordering: .relaxed) == 1 {
                        environment.logger.warning("connection limit reached; refusing new connections", metadata: [
                            "max_connections": "\(limits.maxConnections)"])
                    }
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in
                    if openConnections.wrappingDecrementThenLoad(ordering: .relaxed) < limits.maxConnections {
                        refusedConnections.store(0, ordering: .relaxed)
                    }
                }
                do {
                    switch spec.kind {
                    case .tls(let store, let http2):
                        try ClientPipeline.configureTLS(channel: channel, store: store, environment: environment,
                                                        limits: limits, http2: http2)
                    case .redirect(let httpsPort):
                        try ClientPipeline.addHTTP1Codec(to: channel.pipeline.syncOperations, limits: limits)
                        try channel.pipeline.syncOperations.addHandler(RedirectHandler(httpsPort: httpsPort))
                    }
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
    }
}
