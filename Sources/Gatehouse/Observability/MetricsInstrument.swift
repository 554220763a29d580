import Foundation
import GatehouseTLS
import Prometheus

/// Attaching metric handles to a runtime snapshot: one `RouteMetrics` per route policy, one
/// `PoolMetrics` per pool, one `ListenerMetrics` per TLS listener, deny-rule counters in the
/// router, and the certificate expiry gauges. Run once per snapshot (start, and each reload);
/// the registry hands back existing handles for label sets it already has, so series continue.
extension GatehouseMetrics {
    /// `snapshot` with every handle in place; the pools' handles are remembered for scrapes.
    public func instrument(_ snapshot: RuntimeSnapshot) -> RuntimeSnapshot {
        var snapshot = snapshot
        let pools = snapshot.pools.map { PoolMetrics(pool: $0, registry: registry) }
        scrapeState.withLockedValue { $0 = pools }

        // Routes: service and route labels from the routing table (route ids index the policies).
        var router = snapshot.router
        var policies = router.policies
        for service in router.table.services {
            for route in service.routes where route.id < policies.count {
                let policy = policies[route.id]
                let pool =
                    policy.poolIndex >= 0 && policy.poolIndex < snapshot.pools.count
                    ? snapshot.pools[policy.poolIndex] : nil
                policies[route.id].metrics = makeRouteMetrics(
                    service: service.name, route: policy.name, pool: pool,
                    poolMetrics: pool.map { _ in pools[policy.poolIndex] }, longPoll: policy.longPoll)
            }
        }
        router = ExchangeRouter(
            table: router.table, policies: policies, rewriter: router.rewriter,
            unknownHostStatus: router.unknownHostStatus, screening: router.screening)
        router.denyHits = DenyHitCounters(screening: router.screening, registry: registry)
        snapshot.router = router

        for index in snapshot.listeners.indices {
            guard case .tls(let store, _) = snapshot.listeners[index].kind else { continue }
            let name = snapshot.listeners[index].name
            snapshot.listeners[index].metrics = ListenerMetrics(name: name, store: store, registry: registry)
            for key in store.certificates {
                setExpiry(key.leaf, labels: [("role", "served"), ("owner", name)])
            }
        }
        for pool in snapshot.pools {
            for certificate in pool.tls.trust.trustedCertificates {
                setExpiry(certificate, labels: [("role", "trusted"), ("owner", pool.name)])
            }
        }
        return snapshot
    }

    func makeRouteMetrics(
        service: String, route: String, pool: BackendPool?, poolMetrics: PoolMetrics?,
        longPoll: LongPollRule
    ) -> RouteMetrics {
        let poolName = pool?.name ?? ""
        let servers = [""] + (pool?.servers.map(\.name) ?? [])
        let requests = servers.map { server in
            StatusClass.allCases.map { status in
                registry.makeCounter(
                    descriptor: MetricFamilies.requests,
                    labels: [
                        ("service", service), ("route", route), ("pool", poolName), ("server", server),
                        ("class", status.label)
                    ])
            }
        }
        let routeLabels = [("service", service), ("route", route)]
        // One histogram per event loop: a histogram observation takes its lock, and a lock per loop
        // is never contended (each loop records only into its own).
        let perLoop = (0..<loops).map { routeLabels + [("loop", "\($0)")] }
        return RouteMetrics(
            requests: requests,
            duration: perLoop.map {
                registry.makeValueHistogram(
                    descriptor: MetricFamilies.requestDuration, labels: $0, buckets: MetricFamilies.durationBuckets)
            },
            longPollDuration: longPoll == .none
                ? nil
                : perLoop.map {
                    registry.makeValueHistogram(
                        descriptor: MetricFamilies.longPollDuration, labels: $0,
                        buckets: MetricFamilies.longPollBuckets)
                },
            bytesReceived: registry.makeCounter(descriptor: MetricFamilies.bytesReceived, labels: routeLabels),
            bytesSent: registry.makeCounter(descriptor: MetricFamilies.bytesSent, labels: routeLabels),
            longPoll: longPoll, pool: poolMetrics)
    }

    private func setExpiry(_ certificate: X509Certificate, labels: [(String, String)]) {
        let names = ListenerMetrics.CertificateLabels(certificate)
        registry.makeGauge(
            descriptor: MetricFamilies.certificateExpiry,
            labels: labels + [("certificate", names.name), ("sha256", names.sha256)]
        )
        .set(to: certificate.notAfter.timeIntervalSince1970)
    }
}

/// Deny-rule and screening-rule hit counters, made once per snapshot (one per built-in rule and
/// per rule-pack rule). Looked up by rule on a denied request only, which already builds its
/// answer's reason text; an allowed request never touches them.
public final class DenyHitCounters: Sendable {
    private let builtIn: [DenyRule: Counter]
    private let screening: [String: Counter]

    init(screening packs: ScreeningPacks?, registry: PrometheusCollectorRegistry) {
        var builtIn: [DenyRule: Counter] = [:]
        for rule in DenyRule.allCases {
            builtIn[rule] = registry.makeCounter(descriptor: MetricFamilies.denyHits, labels: [("rule", rule.rawValue)])
        }
        var screening: [String: Counter] = [:]
        for pack in packs?.packs ?? [] {
            for rule in pack.rules {
                screening[rule.label] = registry.makeCounter(descriptor: MetricFamilies.denyHits, labels: [("rule", rule.label)])
            }
        }
        self.builtIn = builtIn
        self.screening = screening
    }

    func hit(_ rule: DenyRule) { builtIn[rule]?.increment() }
    func hit(screeningRule label: String) { screening[label]?.increment() }
}
