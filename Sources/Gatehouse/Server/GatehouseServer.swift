import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Gatehouse as a long-running service: builds the runtime from a configuration, binds every
/// listener, reloads on SIGHUP (and `POST /reload` on the admin endpoint) without dropping a
/// request, and on SIGTERM/SIGINT stops gracefully: no new connections, requests in flight get
/// up to `limits.shutdown_grace` to finish.
public final class GatehouseServer: Service, Sendable {
    /// The running configuration and the runtime built from it (replaced by each reload).
    let current: NIOLockedValueBox<(configuration: GatehouseConfiguration, snapshot: RuntimeSnapshot)>
    public var snapshot: RuntimeSnapshot { current.withLockedValue { $0.snapshot } }
    public var configuration: GatehouseConfiguration { current.withLockedValue { $0.configuration } }
    let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    let proxy: ProxyServer
    /// Active health and drain state of every pool (control plane).
    let health: HealthRegistry
    let checker: HealthChecker
    private let admin: AdminServer
    private let adminChannel = NIOLockedValueBox<Channel?>(nil)
    /// Prometheus metrics, served at the admin endpoint's `/metrics`.
    public let metrics: GatehouseMetrics
    /// The access log, when on; reopened on SIGUSR1 (`reopenSignal`).
    private let accessLog: AccessLog?
    private let reopenSignal = NIOLockedValueBox<SignalSource?>(nil)
    let source: ConfigurationSource
    let reloads = ReloadQueue()
    /// Told the outcome of every reload attempt (true: applied), for metrics; see `reload`.
    let onReload: @Sendable (Bool) -> Void
    private let started = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    /// Loads certificates and trust; throws `RuntimeBuildError` naming each problem.
    /// - Parameters:
    ///   - eventLoops: threads for the data path (default: one per core).
    ///   - source: how a reload reads and validates the configuration file (default: as
    ///     `GatehouseConfiguration.load` does; the CLI adds `gatehouse check`'s coverage check).
    ///   - onReload: called after every reload attempt with whether it was applied (the hook for
    ///     a reload counter in metrics).
    public init(
        configuration: GatehouseConfiguration, logger: Logger,
        eventLoops: Int = System.coreCount, accessLog: Bool = true,
        metrics: GatehouseMetrics = GatehouseMetrics(),
        source: @escaping ConfigurationSource = ConfigurationLoad.standard(path:),
        onReload: @escaping @Sendable (Bool) -> Void = { _ in }
    ) throws {
        self.logger = logger
        self.source = source
        self.onReload = onReload
        self.metrics = metrics
        let snapshot = try metrics.instrument(RuntimeSnapshot(configuration: configuration))
        self.current = NIOLockedValueBox((configuration, snapshot))
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoops))
        do {
            self.accessLog =
                accessLog
                ? try AccessLog(configuration: configuration.accessLog, group: group, logger: logger)
                : nil
        } catch let error as AccessLogError {
            try? group.syncShutdownGracefully()
            throw RuntimeBuildError(problems: [error.message])
        }
        self.proxy = ProxyServer(
            group: group, listeners: snapshot.listeners, pools: snapshot.pools,
            router: snapshot.router, limits: configuration.limits, logger: logger,
            accessLog: self.accessLog, metrics: metrics)
        let pools = proxy.pools
        self.health = HealthRegistry(pools: snapshot.pools, fronts: snapshot.bindingFronts, logger: logger) { views in pools.publish(views)
        }
        self.checker = HealthChecker(registry: health, group: group)
        let current = self.current
        self.admin = AdminServer(
            health: health, pools: pools, listeners: { current.withLockedValue { $0.snapshot.listeners } },
            group: group, logger: logger, metrics: metrics, reloads: reloads, connectionCaps: proxy.connectionCaps)
        reloads.install { [unowned self] trigger in await self.performReload(trigger: trigger) }
    }

    /// Binds the listeners; returns their addresses (useful with port 0).
    public func start() async throws -> [SocketAddress] {
        let (configuration, snapshot) = current.withLockedValue { $0 }
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

    /// Graceful stop: stops accepting, lets requests in flight finish for up to
    /// `limits.shutdown_grace`, closes what is left, releases the event loops.
    public func stop() async {
        checker.stop()
        if let channel = adminChannel.withLockedValue({ $0 }) { try? await channel.close() }
        _ = await proxy.stop(grace: configuration.limits.shutdownGrace)
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

    /// Reloads on every SIGHUP until the returned task is cancelled. The signal is trapped before
    /// this returns, so a SIGHUP sent after it cannot kill the process.
    public func reloadOnHangup() async -> Task<Void, Never> {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        return Task { [self] in
            for await _ in hangups {
                if Task.isCancelled { return }
                _ = await reload(trigger: "SIGHUP")
            }
        }
    }

    /// `Service`: start, reload on SIGHUP, wait for graceful shutdown (SIGTERM/SIGINT), stop.
    public func run() async throws {
        let hangups = await reloadOnHangup()
        _ = try await start()
        started.withLockedValue { $0 }?()
        try? await gracefulShutdown()
        hangups.cancel()
        logger.info("shutting down")
        await stop()
    }

    /// Runs until SIGINT or SIGTERM; `started` runs once every listener is bound (the CLI writes
    /// its pid file there).
    public func runUntilSignalled(started: (@Sendable () -> Void)? = nil) async throws {
        self.started.withLockedValue { $0 = started }
        let group = ServiceGroup(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// A dispatch signal source (thread-safe, but not marked `Sendable` by Dispatch).
private struct SignalSource: @unchecked Sendable {
    let source: any DispatchSourceSignal
}
