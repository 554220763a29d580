/// An immutable picture of one pool's health and drain state, published to every event loop so
/// the data path reads it without locks (each loop keeps its own copy, replaced whole).
struct PoolHealthView: Sendable {
    /// Increases with every publication; a loop ignores a view older than the one it has.
    var generation: UInt64
    /// `serviceUp[service][server]`: the active health per probed service (the pool's health paths).
    var serviceUp: [[Bool]]
    /// Server-level health, for routes without a health path: down only when every probed service
    /// of the server is down (a dead server fails them all); always up when nothing is probed.
    var serverUp: [Bool]
    /// Servers that take no new requests (admin drain or `drain: true`).
    var draining: [Bool]
    /// Extended Protection under `bridged`: `bindingExcluded[service]` (a virtual service's index,
    /// `RoutePolicy.bindingService`) marks per server whether its presented certificate does not
    /// bind like the service's front certificate, so the service's NTLM/Negotiate routes skip it.
    var bindingExcluded: [Int: [Bool]] = [:]

    /// Everything up, with the configured drain flags.
    init(servers: Int, services: Int, draining: [Bool]) {
        self.generation = 0
        self.serviceUp = Array(repeating: Array(repeating: true, count: servers), count: services)
        self.serverUp = Array(repeating: true, count: servers)
        self.draining = draining
    }

    init(generation: UInt64, serviceUp: [[Bool]], draining: [Bool], bindingExcluded: [Int: [Bool]] = [:]) {
        self.generation = generation
        self.bindingExcluded = bindingExcluded
        self.serviceUp = serviceUp
        self.draining = draining
        let servers = draining.count
        self.serverUp = (0..<servers).map { server in
            serviceUp.isEmpty || serviceUp.contains { $0[server] }
        }
    }

    /// Whether `server` may take a new request for `service` (nil: server-level health) on a route
    /// whose Extended Protection binding service is `bindingService` (nil: none, e.g. OWA).
    func accepts(server: Int, service: Int?, bindingService: Int? = nil) -> Bool {
        guard !draining[server] else { return false }
        if let bindingService, let excluded = bindingExcluded[bindingService], server < excluded.count, excluded[server] {
            return false
        }
        if let service, service < serviceUp.count { return serviceUp[service][server] }
        return serverUp[server]
    }

    /// Whether this view is indexed like `pool` (its servers and health paths).
    func fits(_ pool: BackendPool) -> Bool {
        draining.count == pool.servers.count && serviceUp.count == pool.healthPaths.count
    }
}
