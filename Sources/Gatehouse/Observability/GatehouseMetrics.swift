import NIOConcurrencyHelpers
import NIOCore
import Prometheus

/// Gatehouse's Prometheus metrics: one `PrometheusCollectorRegistry` (swift-prometheus) that
/// `GET /metrics` on the admin listener emits, and the handles the data path updates.
///
/// Every handle is made once, when a runtime snapshot is instrumented (`instrument(_:)`), and kept
/// next to what it measures: a route's in its `RoutePolicy.metrics`, a pool's servers' in
/// `PoolMetrics`, a listener's in `ListenerMetrics`. A request never looks a metric up by label
/// strings. Counters are swift-prometheus `Counter`s (relaxed atomic adds, no lock); the latency
/// histogram is swift-prometheus's, one per route, which takes a short lock per observation (a
/// dozen compares under an uncontended mutex; see README.md's metrics section for why that is kept).
///
/// The same label set always gets the same handle back from the registry, so a reload that
/// re-instruments a new snapshot continues the existing series.
///
/// State that already exists elsewhere (health, drain, idle and pinned connections) is not
/// mirrored on the data path: `MetricsScrape` reads it into gauges when `/metrics` is asked for.
public final class GatehouseMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// How many event loops record into the latency histograms: each route has one histogram per
    /// loop (label `loop`), so two loops never take the same histogram's lock. Sum over `loop` in
    /// queries: `sum by (le, route) (rate(gatehouse_request_duration_seconds_bucket[5m]))`.
    public let loops: Int
    let unrouted: UnroutedMetrics
    private let reloadSuccesses: Counter
    private let reloadFailures: Counter
    /// Instrumented state gauges read at scrape time (pools of the current snapshot).
    let scrapeState = NIOLockedValueBox<[PoolMetrics]>([])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), loops: Int = System.coreCount) {
        self.registry = registry
        self.loops = max(1, loops)
        let unroutedLabels = [("service", ""), ("route", ""), ("pool", ""), ("server", "")]
        self.unrouted = UnroutedMetrics(
            requests: StatusClass.allCases.map { status in
                registry.makeCounter(descriptor: MetricFamilies.requests, labels: unroutedLabels + [("class", status.label)])
            },
            bytesReceived: registry.makeCounter(
                descriptor: MetricFamilies.bytesReceived,
                labels: [("service", ""), ("route", "")]),
            bytesSent: registry.makeCounter(descriptor: MetricFamilies.bytesSent, labels: [("service", ""), ("route", "")]))
        self.reloadSuccesses = registry.makeCounter(
            descriptor: MetricFamilies.configReloads,
            labels: [("outcome", ConfigReloadOutcome.success.rawValue)])
        self.reloadFailures = registry.makeCounter(
            descriptor: MetricFamilies.configReloads,
            labels: [("outcome", ConfigReloadOutcome.failure.rawValue)])
    }

    /// How a configuration reload ended.
    public enum ConfigReloadOutcome: String, Sendable, CaseIterable {
        /// The new configuration was valid and is serving.
        case success
        /// The new configuration was refused (any error); the old one keeps serving.
        case failure
    }

    /// Counts one configuration reload in `gatehouse_config_reloads_total{outcome}`. Call it once
    /// per reload attempt (SIGHUP, `gatehouse reload`, the admin endpoint), after the outcome is known.
    public func recordConfigReload(_ outcome: ConfigReloadOutcome) {
        switch outcome {
        case .success: reloadSuccesses.increment()
        case .failure: reloadFailures.increment()
        }
    }

    /// The exposition (Prometheus text format 0.0.4) of everything registered, as it stands; the
    /// scrape-time gauges are set by `MetricsScrape` before this is called.
    public func exposition() -> String {
        registry.emitToString()
    }
}
