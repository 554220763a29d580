/// Which health and drain state survives a reload. A server keeps its probe history per health
/// path when the new configuration has it in the pool of the same name with the same identity
/// (name, address, TLS name): a server that is down stays down until probes bring it back, one
/// drained through the admin endpoint stays drained. A new server, a server whose address
/// changed, or a new health path starts fresh (healthy, as at start-up). The configured
/// `drain:` flag wins when it was edited. Pure, so testable without pools or probes.
enum HealthCarryOver {
    /// A backend server as the carry-over sees it.
    struct Server: Hashable, Sendable {
        var name: String
        var host: String
        var port: Int
        var tlsName: String
        /// The configured `drain:` flag.
        var drain: Bool
        /// The identity that must match for state to carry over (everything but `drain`).
        var identity: [String] { [name, host, "\(port)", tlsName] }
    }

    /// A pool's shape: what its state arrays are indexed by.
    struct Shape: Sendable {
        var name: String
        var servers: [Server]
        var healthPaths: [String]
        var rise: Int
        var fall: Int

        init(name: String, servers: [Server], healthPaths: [String], rise: Int, fall: Int) {
            self.name = name
            self.servers = servers
            self.healthPaths = healthPaths
            self.rise = rise
            self.fall = fall
        }

        init(_ pool: BackendPool) {
            self.init(
                name: pool.name,
                servers: pool.servers.map {
                    Server(name: $0.name, host: $0.host, port: $0.port, tlsName: $0.tlsName, drain: $0.drain)
                },
                healthPaths: pool.healthPaths, rise: pool.health.rise, fall: pool.health.fall)
        }
    }

    /// The fresh state of a pool at start-up: every check healthy, the configured drain flags.
    static func fresh(_ shape: Shape) -> HealthRegistry.PoolState {
        HealthRegistry.PoolState(
            checks: shape.healthPaths.map { _ in
                shape.servers.map { _ in HealthCheck(rise: shape.rise, fall: shape.fall) }
            },
            draining: shape.servers.map(\.drain),
            presented: shape.servers.map { _ in nil },
            lastResult: shape.healthPaths.map { _ in shape.servers.map { _ in "not probed yet" } })
    }

    /// The state of each `new` pool, carried over from `old` (pools with their states) where the
    /// pool, server and health path match.
    static func carry(old: [(shape: Shape, state: HealthRegistry.PoolState)], new: [Shape]) -> [HealthRegistry.PoolState] {
        let oldByName = Dictionary(old.map { ($0.shape.name, $0) }, uniquingKeysWith: { first, _ in first })
        return new.map { shape in
            var state = fresh(shape)
            guard let (oldShape, oldState) = oldByName[shape.name] else { return state }
            for (serverIndex, server) in shape.servers.enumerated() {
                guard let oldServer = oldShape.servers.firstIndex(where: { $0.identity == server.identity }) else {
                    continue
                }
                // The runtime drain flag (admin drain/undrain) survives unless `drain:` was edited.
                // The same server at the same address: its certificate is still the one last seen.
                state.presented[serverIndex] = oldState.presented[oldServer]
                if oldShape.servers[oldServer].drain == server.drain {
                    state.draining[serverIndex] = oldState.draining[oldServer]
                }
                for (pathIndex, path) in shape.healthPaths.enumerated() {
                    guard let oldPath = oldShape.healthPaths.firstIndex(of: path) else { continue }
                    // rise/fall may have changed: keep the state, apply the new thresholds.
                    state.checks[pathIndex][serverIndex] = oldState.checks[oldPath][oldServer]
                        .withThresholds(rise: shape.rise, fall: shape.fall)
                    state.lastResult[pathIndex][serverIndex] = oldState.lastResult[oldPath][oldServer]
                }
            }
            return state
        }
    }
}
