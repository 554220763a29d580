import Logging
import NIOConcurrencyHelpers

/// The control plane's record of every pool's active health and drain flags. Probes and the admin
/// endpoint update it (under a lock: control plane only); every change is published as fresh
/// `PoolHealthView`s to each event loop through `publish`. Long-lived: a reload replaces its pools
/// and carries their state over (`HealthCarryOver`).
final class HealthRegistry: Sendable {
    struct PoolState {
        /// `checks[service][server]`
        var checks: [[HealthCheck]]
        var draining: [Bool]
        /// The last probe outcome per (service, server), for the admin endpoint.
        var lastResult: [[String]]
    }

    private struct State {
        var generation: UInt64
        /// Increases with every reload; probes of an older epoch are dropped (their indices
        /// refer to the pools before the reload).
        var epoch: UInt64
        var pools: [BackendPool]
        var states: [PoolState]
    }

    /// The pools of the current runtime snapshot (replaced whole on reload).
    var pools: [BackendPool] { state.withLockedValue { $0.pools } }
    /// The current reload epoch (a health checker records with the epoch it started in).
    var epoch: UInt64 { state.withLockedValue { $0.epoch } }
    private let state: NIOLockedValueBox<State>
    /// Set at shutdown: late probe results are dropped instead of being published to loops that
    /// may already be gone.
    private let stopped = NIOLockedValueBox(false)
    private let publish: @Sendable ([PoolHealthView]) -> Void
    private let logger: Logger

    init(pools: [BackendPool], logger: Logger, publish: @escaping @Sendable ([PoolHealthView]) -> Void) {
        self.logger = logger
        self.publish = publish
        let states = pools.map { HealthCarryOver.fresh(HealthCarryOver.Shape($0)) }
        self.state = NIOLockedValueBox(State(generation: 0, epoch: 0, pools: pools, states: states))
    }

    /// Switches to the pools of a new runtime snapshot, carrying state over; returns the new epoch
    /// and views. The caller publishes them to the new pools and restarts the health checker.
    func replace(pools: [BackendPool]) -> (epoch: UInt64, views: [PoolHealthView]) {
        state.withLockedValue { state in
            state.states = Self.carry(state, to: pools)
            state.pools = pools
            state.generation += 1
            state.epoch += 1
            return (state.epoch, Self.views(generation: state.generation, state.states))
        }
    }

    private static func carry(_ state: State, to pools: [BackendPool]) -> [PoolState] {
        let old = zip(state.pools, state.states).map { (HealthCarryOver.Shape($0.0), $0.1) }
        return HealthCarryOver.carry(old: old, new: pools.map(HealthCarryOver.Shape.init))
    }

    /// Records one probe of `pool`'s health path `service` on `server`; logs and publishes a change.
    func record(epoch: UInt64, pool: Int, service: Int, server: Int, success: Bool, detail: String) {
        guard !stopped.withLockedValue({ $0 }) else { return }
        let (transition, views, backendPool) = state.withLockedValue {
            state -> (HealthCheck.Transition?, [PoolHealthView]?, BackendPool?) in
            guard state.epoch == epoch else { return (nil, nil, nil) }
            state.states[pool].lastResult[service][server] = detail
            guard let transition = state.states[pool].checks[service][server].record(success: success) else {
                return (nil, nil, nil)
            }
            state.generation += 1
            return (transition, Self.views(generation: state.generation, state.states), state.pools[pool])
        }
        guard let transition, let views, let backendPool else { return }
        let metadata: Logger.Metadata = [
            "pool": "\(backendPool.name)", "server": "\(backendPool.servers[server].name)",
            "service": "\(backendPool.healthLabels[service])", "check": "\(detail)"
        ]
        switch transition {
        case .wentDown: logger.warning("backend service down: out of rotation", metadata: metadata)
        case .cameUp: logger.info("backend service up: back in rotation", metadata: metadata)
        }
        publish(views)
    }

    /// Drains (no new requests) or undrains a server; returns false when it is unknown.
    @discardableResult
    func setDraining(pool: String, server: String, _ draining: Bool) -> Bool {
        let outcome = state.withLockedValue { state -> (known: Bool, views: [PoolHealthView]?) in
            guard let poolIndex = state.pools.firstIndex(where: { $0.name == pool }),
                let serverIndex = state.pools[poolIndex].servers.firstIndex(where: { $0.name == server })
            else {
                return (false, nil)
            }
            guard state.states[poolIndex].draining[serverIndex] != draining else { return (true, nil) }
            state.states[poolIndex].draining[serverIndex] = draining
            state.generation += 1
            return (true, Self.views(generation: state.generation, state.states))
        }
        guard outcome.known else { return false }
        if let views = outcome.views {
            logger.info(
                draining ? "backend draining: no new requests" : "backend undrained",
                metadata: ["pool": "\(pool)", "server": "\(server)"])
            publish(views)
        }
        return true
    }

    /// Stops publishing (shutdown).
    func stop() { stopped.withLockedValue { $0 = true } }

    /// The current views (admin endpoint, start-up).
    func currentViews() -> [PoolHealthView] {
        state.withLockedValue { Self.views(generation: $0.generation, $0.states) }
    }

    /// The last probe outcome per (service, server) of `pool`.
    func lastResults(pool: Int) -> [[String]] { state.withLockedValue { $0.states[pool].lastResult } }

    /// Pools, views and last probe outcomes read together (a reload cannot come in between).
    func picture() -> (pools: [BackendPool], views: [PoolHealthView], lastResults: [[[String]]]) {
        state.withLockedValue { state in
            (state.pools, Self.views(generation: state.generation, state.states), state.states.map(\.lastResult))
        }
    }

    private static func views(generation: UInt64, _ states: [PoolState]) -> [PoolHealthView] {
        states.map { pool in
            PoolHealthView(
                generation: generation, serviceUp: pool.checks.map { $0.map(\.isHealthy) },
                draining: pool.draining)
        }
    }
}
