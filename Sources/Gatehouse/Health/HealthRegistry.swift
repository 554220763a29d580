import Logging
import NIOConcurrencyHelpers

/// The control plane's record of every pool's active health and drain flags. Probes and the admin
/// endpoint update it (under a lock: control plane only); every change is published as fresh
/// `PoolHealthView`s to each event loop through `publish`.
final class HealthRegistry: Sendable {
    struct PoolState {
        /// `checks[service][server]`
        var checks: [[HealthCheck]]
        var draining: [Bool]
        /// The last probe outcome per (service, server), for the admin endpoint.
        var lastResult: [[String]]
    }

    let pools: [BackendPool]
    private let state: NIOLockedValueBox<(generation: UInt64, pools: [PoolState])>
    /// Set at shutdown: late probe results are dropped instead of being published to loops that
    /// may already be gone.
    private let stopped = NIOLockedValueBox(false)
    private let publish: @Sendable ([PoolHealthView]) -> Void
    private let logger: Logger

    init(pools: [BackendPool], logger: Logger, publish: @escaping @Sendable ([PoolHealthView]) -> Void) {
        self.pools = pools
        self.logger = logger
        self.publish = publish
        let states = pools.map { pool in
            PoolState(
                checks: pool.healthPaths.map { _ in
                    pool.servers.map { _ in HealthCheck(rise: pool.health.rise, fall: pool.health.fall) }
                },
                draining: pool.servers.map(\.drain),
                lastResult: pool.healthPaths.map { _ in pool.servers.map { _ in "not probed yet" } })
        }
        self.state = NIOLockedValueBox((0, states))
    }

    /// Records one probe of `pool`'s health path `service` on `server`; logs and publishes a change.
    func record(pool: Int, service: Int, server: Int, success: Bool, detail: String) {
        guard !stopped.withLockedValue({ $0 }) else { return }
        let (transition, views) = state.withLockedValue { state -> (HealthCheck.Transition?, [PoolHealthView]?) in
            state.pools[pool].lastResult[service][server] = detail
            guard let transition = state.pools[pool].checks[service][server].record(success: success) else {
                return (nil, nil)
            }
            state.generation += 1
            return (transition, Self.views(state))
        }
        guard let transition, let views else { return }
        let backendPool = pools[pool]
        let metadata: Logger.Metadata = [
            "pool": "\(backendPool.name)", "server": "\(backendPool.servers[server].name)",
            "service": "\(backendPool.healthLabels[service])", "check": "\(detail)"]
        switch transition {
        case .wentDown: logger.warning("backend service down: out of rotation", metadata: metadata)
        case .cameUp: logger.info("backend service up: back in rotation", metadata: metadata)
        }
        publish(views)
    }

    /// Drains (no new requests) or undrains a server; returns false when it is unknown.
    @discardableResult
    func setDraining(pool: String, server: String, _ draining: Bool) -> Bool {
        guard let poolIndex = pools.firstIndex(where: { $0.name == pool }),
              let serverIndex = pools[poolIndex].servers.firstIndex(where: { $0.name == server }) else { return false }
        let views = state.withLockedValue { state -> [PoolHealthView]? in
            guard state.pools[poolIndex].draining[serverIndex] != draining else { return nil }
            state.pools[poolIndex].draining[serverIndex] = draining
            state.generation += 1
            return Self.views(state)
        }
        if let views {
            logger.info(draining ? "backend draining: no new requests" : "backend undrained",
                        metadata: ["pool": "\(pool)", "server": "\(server)"])
            publish(views)
        }
        return true
    }

    /// Stops publishing (shutdown).
    func stop() { stopped.withLockedValue { $0 = true } }

    /// The current views (admin endpoint, start-up).
    func currentViews() -> [PoolHealthView] { state.withLockedValue { Self.views($0) } }

    /// The last probe outcome per (service, server) of `pool`.
    func lastResults(pool: Int) -> [[String]] { state.withLockedValue { $0.pools[pool].lastResult } }

    private static func views(_ state: (generation: UInt64, pools: [PoolState])) -> [PoolHealthView] {
        state.pools.map { pool in
            PoolHealthView(generation: state.generation, serviceUp: pool.checks.map { $0.map(\.isHealthy) },
                           draining: pool.draining)
        }
    }
}
