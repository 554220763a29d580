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
        /// Per server, the certificate it presented on its last successful TLS handshake.
        var presented: [PresentedCertificate?]
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
        /// Extended Protection: the front certificates servers must match, and the
        /// (service, pool, server) triples known to mismatch (logged when that changes).
        var fronts: [ChannelBindingFront]
        var mismatched: Set<ChannelBindingTable.Key> = []
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

    init(
        pools: [BackendPool], fronts: [ChannelBindingFront] = [], logger: Logger,
        publish: @escaping @Sendable ([PoolHealthView]) -> Void
    ) {
        self.logger = logger
        self.publish = publish
        let states = pools.map { HealthCarryOver.fresh(HealthCarryOver.Shape($0)) }
        self.state = NIOLockedValueBox(State(generation: 0, epoch: 0, pools: pools, states: states, fronts: fronts))
    }

    /// Switches to the pools of a new runtime snapshot, carrying state over; returns the new epoch
    /// and views. The caller publishes them to the new pools and restarts the health checker.
    func replace(pools: [BackendPool], fronts: [ChannelBindingFront] = []) -> (epoch: UInt64, views: [PoolHealthView]) {
        let (result, changes) = state.withLockedValue {
            state -> ((epoch: UInt64, views: [PoolHealthView]), [ChannelBindingTable.Change]) in
            state.states = Self.carry(state, to: pools)
            state.pools = pools
            state.fronts = fronts
            state.generation += 1
            state.epoch += 1
            let changes = Self.bindingChanges(&state)
            return ((state.epoch, Self.views(state)), changes)
        }
        logBindingChanges(changes)
        return result
    }

    private static func carry(_ state: State, to pools: [BackendPool]) -> [PoolState] {
        let old = zip(state.pools, state.states).map { (HealthCarryOver.Shape($0.0), $0.1) }
        return HealthCarryOver.carry(old: old, new: pools.map(HealthCarryOver.Shape.init))
    }

    /// Records one probe of `pool`'s health path `service` on `server`; logs and publishes a change.
    /// `presented`: the certificate of the probe's TLS handshake, if it completed.
    func record(
        epoch: UInt64, pool: Int, service: Int, server: Int, success: Bool, detail: String,
        presented: PresentedCertificate? = nil
    ) {
        guard !stopped.withLockedValue({ $0 }) else { return }
        let (transition, views, backendPool, changes) = state.withLockedValue {
            state -> (HealthCheck.Transition?, [PoolHealthView]?, BackendPool?, [ChannelBindingTable.Change]) in
            guard state.epoch == epoch else { return (nil, nil, nil, []) }
            state.states[pool].lastResult[service][server] = detail
            var changes: [ChannelBindingTable.Change] = []
            var certificateChanged = false
            if let presented, state.states[pool].presented[server] != presented {
                state.states[pool].presented[server] = presented
                changes = Self.bindingChanges(&state)
                certificateChanged = true
            }
            let transition = state.states[pool].checks[service][server].record(success: success)
            guard transition != nil || certificateChanged else { return (nil, nil, nil, changes) }
            state.generation += 1
            return (transition, Self.views(state), state.pools[pool], changes)
        }
        logBindingChanges(changes)
        if transition == nil, let views { publish(views) }
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
            return (true, Self.views(state))
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
        state.withLockedValue { Self.views($0) }
    }

    /// The last probe outcome per (service, server) of `pool`.
    func lastResults(pool: Int) -> [[String]] { state.withLockedValue { $0.states[pool].lastResult } }

    /// Pools, views and last probe outcomes read together (a reload cannot come in between).
    func picture() -> (pools: [BackendPool], views: [PoolHealthView], lastResults: [[[String]]]) {
        state.withLockedValue { state in
            (state.pools, Self.views(state), state.states.map(\.lastResult))
        }
    }

    /// Extended Protection as `/state` and the metrics show it: the front certificates, each
    /// server's presented certificate (`presented[pool][server]`) and every verdict.
    func bindingPicture() -> (
        pools: [BackendPool], fronts: [ChannelBindingFront], presented: [[PresentedCertificate?]],
        rows: [ChannelBindingTable.Row]
    ) {
        state.withLockedValue { state in
            let presented = state.states.map(\.presented)
            return (
                state.pools, state.fronts, presented,
                ChannelBindingTable.rows(fronts: state.fronts, poolNames: state.pools.map(\.name), presented: presented)
            )
        }
    }

    /// Recomputes which triples mismatch; returns what changed since the last time.
    private static func bindingChanges(_ state: inout State) -> [ChannelBindingTable.Change] {
        guard !state.fronts.isEmpty || !state.mismatched.isEmpty else { return [] }
        let presented = state.states.map(\.presented)
        let names = state.pools.map(\.name)
        let rows = ChannelBindingTable.rows(fronts: state.fronts, poolNames: names, presented: presented)
        let now = ChannelBindingTable.states(
            rows: rows, fronts: state.fronts, poolNames: names, serverNames: state.pools.map { $0.servers.map(\.name) },
            presented: presented)
        let changes = ChannelBindingTable.changes(before: state.mismatched, now: now)
        state.mismatched = Set(now.mismatched.keys)
        return changes
    }

    /// One line per change: a warning when a server's certificate stops binding like the front
    /// certificate (and, under `bridged`, leaves the NTLM rotation), an info line when it matches again.
    private func logBindingChanges(_ changes: [ChannelBindingTable.Change]) {
        for change in changes {
            let metadata: Logger.Metadata = [
                "service": "\(change.key.service)", "pool": "\(change.key.pool)", "server": "\(change.key.server)",
                "extended_protection": "\(change.setting.rawValue)",
                "front_sha256": "\(change.front.thumbprint)", "presented_sha256": "\(change.presented.thumbprint)"
            ]
            if change.mismatched {
                logger.warning(
                    change.setting == .bridged
                        ? "Extended Protection mismatch: backend presents a different certificate than the front; out of the NTLM/Negotiate rotation"
                        : "Extended Protection mismatch: backend presents a different certificate than the front; NTLM/Negotiate logons through it will fail",
                    metadata: metadata)
            } else {
                logger.info(
                    change.setting == .bridged
                        ? "Extended Protection: backend certificate matches the front again; back in the NTLM/Negotiate rotation"
                        : "Extended Protection: backend certificate matches the front again",
                    metadata: metadata)
            }
        }
    }

    private static func views(_ state: State) -> [PoolHealthView] {
        let presented = state.states.map(\.presented)
        let rows = ChannelBindingTable.rows(fronts: state.fronts, poolNames: state.pools.map(\.name), presented: presented)
        let excluded = ChannelBindingTable.exclusions(
            rows: rows, fronts: state.fronts, serverCounts: state.pools.map(\.servers.count))
        return zip(state.states, excluded).map { pool, excluded in
            PoolHealthView(
                generation: state.generation, serviceUp: pool.checks.map { $0.map(\.isHealthy) },
                draining: pool.draining, bindingExcluded: excluded)
        }
    }
}
