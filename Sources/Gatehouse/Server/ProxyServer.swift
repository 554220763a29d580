import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The data plane: binds the listeners and proxies their connections to the backend pools.
/// Built from ready runtime pieces (certificate stores, pools, router) so tests and the
/// configuration-driven `GatehouseServer` share it. What connections use is read from `live` at
/// accept time, so a reload (`ProxyServer+Reload.swift`) changes certificates, routes and pools
/// without touching the sockets it keeps.
public final class ProxyServer: Sendable {
    /// A bound listening socket and the client connections it accepted.
    struct Bound: Sendable {
        var key: ListenerPlan.Key
        var name: String
        var channel: Channel
        var connections: ConnectionTracker
    }

    let group: EventLoopGroup
    private let initialListeners: [ListenerSpec]
    /// The current runtime: environment, listeners by address, limits.
    let live: LiveRuntime
    /// The current pool set, for health publication and the admin endpoint.
    let pools: BackendPoolRegistry
    let logger: Logger
    let accessLog: AccessLog?
    /// Prometheus metrics (nil: off), for the environments reloads build.
    let metrics: GatehouseMetrics?
    /// The listening sockets, in configuration order.
    let bound: NIOLockedValueBox<[Bound]> = .init([])
    /// Connections of listeners a reload removed, still finishing their requests.
    let retired: NIOLockedValueBox<[ConnectionTracker]> = .init([])
    /// Set by `stop` before it takes the listeners: a reload committing afterwards closes what it bound.
    let isStopping = NIOLockedValueBox(false)
    /// Open client connections across all TLS listeners, against `limits.maxConnections`.
    private let tlsConnections: ConnectionCap
    /// Open client connections across all redirect listeners, against `limits.maxRedirectConnections`:
    /// a cap of their own, so plain-HTTP sockets cannot lock HTTPS clients out.
    private let redirectConnections: ConnectionCap

    public init(
        group: EventLoopGroup, listeners: [ListenerSpec], pools: [BackendPool],
        router: any ProxyRouter, limits: ClientLimits, logger: Logger, accessLog: AccessLog?,
        metrics: GatehouseMetrics? = nil
    ) {
        self.group = group
        self.initialListeners = listeners
        self.logger = logger
        self.accessLog = accessLog
        self.tlsConnections = ConnectionCap(limit: limits.maxConnections, key: "max_connections")
        self.redirectConnections = ConnectionCap(limit: limits.maxRedirectConnections, key: "max_redirect_connections")
        let set = LoopPoolSet(pools: pools, group: group)
        self.pools = BackendPoolRegistry(set)
        self.metrics = metrics
        let environment = ProxyEnvironment(
            router: router, pools: set, logger: logger, accessLog: self.accessLog, metrics: metrics, loops: group)
        self.live = LiveRuntime(
            ServingState(
                environment: environment, listeners: Dictionary(listeners.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }),
                limits: limits))
    }

    /// The two connection caps, for the admin endpoint's state and metrics.
    var connectionCaps: [ConnectionCap] { [tlsConnections, redirectConnections] }

    /// Binds every listener; returns the bound addresses in listener order (port 0 → real port).
    public func start() async throws -> [SocketAddress] {
        var addresses: [SocketAddress] = []
        for spec in initialListeners {
            let listener = try await bind(spec)
            bound.withLockedValue { $0.append(listener) }
            if let address = listener.channel.localAddress { addresses.append(address) }
        }
        return addresses
    }

    /// Binds one listener socket; its connections take their pipeline from `live` at accept time.
    func bind(_ spec: ListenerSpec) async throws -> Bound {
        let connections = ConnectionTracker()
        let channel = try await bootstrap(key: spec.key, connections: connections)
            .bind(host: spec.host, port: spec.port).get()
        logger.info("listening", metadata: ["listener": "\(spec.name)", "address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return Bound(key: spec.key, name: spec.name, channel: channel, connections: connections)
    }

    private func bootstrap(key: ListenerPlan.Key, connections: ConnectionTracker) -> ServerBootstrap {
        let live = self.live
        let logger = self.logger
        let tlsConnections = self.tlsConnections
        let redirectConnections = self.redirectConnections
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP_NODELAY on the listener: accepted sockets inherit it, so no setsockopt per connection
            // (`.socketOption(.tcp_nodelay)` was SOL_SOCKET option 1, SO_DEBUG, on every accepted socket).
            .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // NIO's default of up to 4 accepts per readiness event stays: one accept per event (as
            // nginx's `multi_accept off`) saved the accept4 that returns EAGAIN when connections come
            // one at a time, but under load connections waited longer in the accept queue, and when
            // an instance died more of them were lost with it (test_scale_out: 0-3 connect errors
            // in 7 runs against none in 6).
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: ClientPipeline.receiveBuffers)
            .childChannelInitializer { channel in
                // One read of the current runtime per connection: its certificates and limits.
                let state = live.state
                guard let spec = state.listeners[key] else {
                    // A reload removed this listener; its socket is closing.
                    return channel.close()
                }
                let cap: ConnectionCap
                switch spec.kind {
                case .tls, .passthrough: cap = tlsConnections
                case .redirect: cap = redirectConnections
                }
                // The connection cap: count every accepted connection until it closes; beyond the
                // limit, close at once (before any TLS work) so a flood cannot exhaust memory or fds.
                if case .refused(let firstOfBurst) = cap.admit() {
                    if firstOfBurst {
                        logger.warning(
                            "connection limit reached; refusing new connections",
                            metadata: [
                                "listener": "\(spec.name)", "\(cap.key)": "\(cap.limit)"
                            ])
                    }
                    return channel.close()
                }
                // Counted until it closes (one close callback releases the cap and the tracker's
                // entry). Draining (graceful stop): a connection accepted in the meantime is closed.
                guard connections.admit(channel, releasing: cap) else {
                    cap.release()
                    return channel.close()
                }
                do {
                    // The client address everything on this connection uses: the peer's, or the
                    // real client's from a trusted PROXY header, recorded before TLS starts.
                    let client = ConnectionClientAddress(peer: channel.remoteAddress)
                    if let proxyProtocol = spec.proxyProtocol {
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyProtocolHandler(
                                settings: proxyProtocol, client: client, listener: spec.name, logger: logger,
                                metrics: spec.metrics))
                    }
                    switch spec.kind {
                    case .tls(let store, let http2):
                        try ClientPipeline.configureTLS(
                            channel: channel, store: store, environment: state.environment,
                            limits: state.limits, http2: http2, metrics: spec.metrics, live: live, client: client)
                    case .redirect(let policy):
                        try ClientPipeline.configureRedirect(channel: channel, policy: policy, limits: state.limits)
                    case .passthrough(let plan):
                        try ClientPipeline.configurePassthrough(
                            channel: channel, plan: plan, environment: state.environment, listener: spec.name,
                            client: client)
                    }
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
    }
}
