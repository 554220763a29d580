import Prometheus

/// The metric handles of one backend pool, indexed by server (as in `BackendPool.servers`): the
/// events the request code reports (connects, connect failures, resends, passive ejections) and
/// the gauges `MetricsScrape` fills from the pools' and health registry's state at scrape time.
final class PoolMetrics: Sendable {
    let name: String
    /// The servers (names, in order) and health services the per-server handles were made for: a
    /// scrape updates the handles only from a pool of the same shape (a reload may change it).
    let serverNames: [String]
    let healthLabels: [String]
    let connects: [Counter]
    let connectFailures: [Counter]
    let resends: [Counter]
    let ejections: [Counter]
    /// Scrape-time gauges, per server.
    let open: [Gauge]
    let idle: [Gauge]
    let pinned: [Gauge]
    let inFlight: [Gauge]
    let draining: [Gauge]
    /// `up[service][server]`, the pool's health services (`BackendPool.healthLabels`) in order.
    let serviceUp: [[Gauge]]
    /// Server-level health (`PoolHealthView.serverUp`), service label empty.
    let serverUp: [Gauge]

    init(pool: BackendPool, registry: PrometheusCollectorRegistry) {
        name = pool.name
        serverNames = pool.servers.map(\.name)
        healthLabels = pool.healthLabels
        let labels = pool.servers.map { [("pool", pool.name), ("server", $0.name)] }
        func counters(_ family: MetricNameDescriptor) -> [Counter] {
            labels.map { registry.makeCounter(descriptor: family, labels: $0) }
        }
        func gauges(_ family: MetricNameDescriptor, extra: [(String, String)] = []) -> [Gauge] {
            labels.map { registry.makeGauge(descriptor: family, labels: $0 + extra) }
        }
        connects = counters(MetricFamilies.backendConnects)
        connectFailures = counters(MetricFamilies.backendConnectFailures)
        resends = counters(MetricFamilies.backendResends)
        ejections = counters(MetricFamilies.backendEjections)
        open = gauges(MetricFamilies.backendConnections, extra: [("state", "open")])
        idle = gauges(MetricFamilies.backendConnections, extra: [("state", "idle")])
        pinned = gauges(MetricFamilies.backendConnections, extra: [("state", "pinned")])
        inFlight = gauges(MetricFamilies.backendRequestsInFlight)
        draining = gauges(MetricFamilies.backendDraining)
        serviceUp = pool.healthLabels.map { service in gauges(MetricFamilies.backendUp, extra: [("service", service)]) }
        serverUp = gauges(MetricFamilies.backendUp, extra: [("service", "")])
    }

    /// Whether these handles were made for `pool` as it is now (same name, servers and services).
    func fits(_ pool: BackendPool) -> Bool {
        name == pool.name && serverNames == pool.servers.map(\.name) && healthLabels == pool.healthLabels
    }

    /// Sets the scrape-time gauges from the pool's summed counters and its health view.
    func update(counters: LoopPoolCounters, health: PoolHealthView) {
        func set(_ gauges: [Gauge], _ values: [Int]) {
            for (index, gauge) in gauges.enumerated() { gauge.set(to: Double(index < values.count ? values[index] : 0)) }
        }
        set(open, counters.open)
        set(idle, counters.idle)
        set(pinned, counters.pinned)
        set(inFlight, counters.outstanding)
        set(draining, health.draining.map { $0 ? 1 : 0 })
        set(serverUp, health.serverUp.map { $0 ? 1 : 0 })
        for (service, gauges) in serviceUp.enumerated() where service < health.serviceUp.count {
            set(gauges, health.serviceUp[service].map { $0 ? 1 : 0 })
        }
    }

    /// One counter of `counters` for `server`, if the index is known.
    @inline(__always)
    static func bump(_ counters: [Counter], _ server: Int) {
        if server >= 0, server < counters.count { counters[server].increment() }
    }
}

extension PoolMetrics {
    /// A new connection to `server` is open (TCP and TLS).
    func connected(server: Int) { Self.bump(connects, server) }
    /// A connect to `server` failed.
    func connectFailed(server: Int) { Self.bump(connectFailures, server) }
    /// A request is resent elsewhere after its connection to `server` failed.
    func resent(server: Int) { Self.bump(resends, server) }
    /// Passive ejection made `server` (or one of its services) suspect.
    func ejected(server: Int) { Self.bump(ejections, server) }
}
