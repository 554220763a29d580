import NIOConcurrencyHelpers
import NIOCore

/// Runs the active health checks: for every pool, every health path of its routes and every
/// server, a probe every `interval` (measured from the end of the previous probe, like HAProxy's
/// `inter`), recorded in the `HealthRegistry`. Control plane: repeated tasks on the event loops,
/// nothing on the data path.
final class HealthChecker: Sendable {
    private let registry: HealthRegistry
    private let group: EventLoopGroup
    private let tasks = NIOLockedValueBox<[RepeatedTask]>([])

    init(registry: HealthRegistry, group: EventLoopGroup) {
        self.registry = registry
        self.group = group
    }

    /// Starts every probe; the first ones are spread over one interval so they do not all
    /// handshake at the same moment.
    func start() {
        var started: [RepeatedTask] = []
        let registry = self.registry
        let epoch = registry.epoch
        for (poolIndex, pool) in registry.pools.enumerated() where pool.health.enabled {
            let interval = TimeAmount(pool.health.interval)
            let timeout = TimeAmount(pool.health.timeout)
            let total = pool.healthPaths.count * pool.servers.count
            var number = 0
            for (serviceIndex, path) in pool.healthPaths.enumerated() {
                for (serverIndex, server) in pool.servers.enumerated() {
                    let loop = group.next()
                    let offset = TimeAmount.nanoseconds(interval.nanoseconds * Int64(number) / Int64(max(1, total)))
                    number += 1
                    started.append(
                        loop.scheduleRepeatedAsyncTask(initialDelay: offset, delay: interval) { _ in
                            HealthProbe.run(pool: pool, server: server, path: path, timeout: timeout, on: loop).map { outcome in
                                registry.record(
                                    epoch: epoch, pool: poolIndex, service: serviceIndex, server: serverIndex,
                                    success: outcome.healthy, detail: outcome.detail,
                                    presented: outcome.presented)
                            }
                        })
                }
            }
        }
        tasks.withLockedValue { $0.append(contentsOf: started) }
    }

    /// Stops probing and publishing (shutdown).
    func stop() {
        registry.stop()
        cancelProbes()
    }

    /// Stops probing; the registry keeps publishing (a reload starts a new checker).
    func cancelProbes() {
        let running = tasks.withLockedValue { tasks in
            defer { tasks.removeAll() }
            return tasks
        }
        for task in running { task.cancel() }
    }
}
