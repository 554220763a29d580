import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Gatehouse as a long-running service: builds the runtime from a configuration, binds every
/// listener, and on SIGTERM/SIGINT stops accepting and closes backend connections before exiting.
public final class GatehouseServer: Service, Sendable {
    public let snapshot: RuntimeSnapshot
    private let configuration: GatehouseConfiguration
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let proxy: ProxyServer
    /// Active health and drain state of every pool (control plane).
    let health: HealthRegistry
    private let checker: HealthChecker
    private let admin: AdminServer
    private let adminChannel = NIOLockedValueBox<Channel?>(nil)
    /// Prometheus metrics, served at the admin endpoint's `/metrics`.
    public let metrics: GatehouseMetrics
    /// The access log, when on; reopened on SIGUSR1 (`reopenSignal`).
    private let accessLog: AccessLog?
    private let reopenSignal = NIOLockedValueBox<SignalSource?>(nil)

    /// Loads certificates and trust; throws `RuntimeBuildError` naming each problem.
    /// - Parameter eventLoops: threads for the data path (default: one per core).
    public init(configuration: GatehouseConfiguration, logger: Logger,
                eventLoops: Int = System.coreCount, accessLog: Bool = true,
                metrics: GatehouseMetrics = GatehouseMetrics()) throws {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.snapshot = try metrics.instrument(RuntimeSnapshot(configuration: configuration))
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoops))
        do {
            self.accessLog = accessLog ? try AccessLog(configuration: configuration.accessLog, group: group, logger: logger)
                : nil
        } catch let error as AccessLogError {
            try? group.syncShutdownGracefully()
            throw RuntimeBuildError(problems: [error.message])
        }
        self.proxy = ProxyServer(group: group, listeners: snapshot.listeners, pools: snapshot.pools,
                                 router: snapshot.router, limits: configuration.limits, logger: logger,
                                 accessLog: self.accessLog, metrics: metrics)
        let pools = proxy.environment.pools
        self.health = HealthRegistry(pools: snapshot.pools, logger: logger) { views in pools.publish(views) }
        self.checker = HealthChecker(registry: health, group: group)
        self.admin = AdminServer(health: health, pools: pools, listeners: snapshot.listeners, group: group, logger: logger,
                                 metrics: metrics)
    }

    /// Binds the listeners; returns their addresses (useful with port 0).
    public func start() async throws -> [SocketAddress] {
        for warning in snapshot.warnings {
            logger.warning("\(warning)")
        }
        let addresses = try await proxy.start()
        watchReopenSignal()
        checker.start()
        if let address = configuration.admin?.address {
            let channel = try await admin.start(host: address.host, port: address.port)
            adminChannel.withLockedValue { $0 = channel }
        }
        return addresses
    }

    /// Stops listening and releases the event loops.
    public func stop() async {
        checker.stop()
        if let channel = adminChannel.withLockedValue({ $0 }) { try? await channel.close() }
        await proxy.stop()
        reopenSignal.withLockedValue { source in
            source?.source.cancel()
            source = nil
        }
        await accessLog?.shutdown()
        try? await group.shutdownGracefully()
    }

    /// SIGUSR1 reopens the access log file (logrotate's `postrotate: kill -USR1 <pid>`); with the
    /// log on standard output it does nothing (and, above all, does not stop the process).
    private func watchReopenSignal() {
        guard let accessLog else { return }
        // The default action of SIGUSR1 is to terminate: ignore it so only the source sees it.
        signal(SIGUSR1, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        source.setEventHandler { accessLog.reopen() }
        source.resume()
        reopenSignal.withLockedValue { $0 = SignalSource(source: source) }
    }

    /// `Service`: start, wait for graceful shutdown (a signal), stop.
    public func run() async throws {
        _ = try await start()
        try? await gracefulShutdown()
        logger.info("shutting down")
        await stop()
    }

    /// Runs until SIGINT or SIGTERM.
    public func runUntilSignalled() async throws {
        let group = ServiceGroup(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// A dispatch signal source (thread-safe, but not marked `Sendable` by Dispatch).
private struct SignalSource: @unchecked Sendable {
    let source: any DispatchSourceSignal
}
