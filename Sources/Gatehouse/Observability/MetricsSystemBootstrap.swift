import Metrics
import Prometheus

extension GatehouseMetrics {
    /// Makes this registry the process's swift-metrics backend, so a library that reports through
    /// swift-metrics (`Counter(label:)`, `Timer`...) appears at `/metrics` too. Once per process
    /// (swift-metrics allows one bootstrap): the CLI calls it, tests do not. Gatehouse's own
    /// handles are made on the registry directly, which spares the request path swift-metrics'
    /// existential handler call and lets a test own a registry of its own.
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }
}
