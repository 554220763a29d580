import Prometheus

extension GatehouseMetrics {
    /// The bounded `outcome` label of a pass-through connection, from its log outcome (whose text
    /// may name an SNI or an error, so it never becomes a label itself).
    static func passthroughOutcome(_ outcome: String?) -> String {
        guard let outcome, outcome != "ok" else { return "ok" }
        for label in ["no_server", "connect_failed", "idle_timeout", "hello_timeout"] where outcome == label {
            return label
        }
        if outcome.hasPrefix("error") { return "error" }
        return "closed"
    }

    /// Counts one ended pass-through connection and its bytes. Once per connection, so the label
    /// lookup in the registry (a short lock) is not on any per-byte or per-request path.
    func recordPassthrough(listener: String, pool: String?, outcome: String?, fromClient: Int64, fromBackend: Int64) {
        let base = [("listener", listener), ("pool", pool ?? "")]
        registry.makeCounter(
            descriptor: MetricFamilies.passthroughConnections,
            labels: base + [("outcome", Self.passthroughOutcome(outcome))]
        ).increment()
        if fromClient > 0 {
            registry.makeCounter(
                descriptor: MetricFamilies.passthroughBytes, labels: base + [("direction", "from_client")]
            ).increment(by: fromClient)
        }
        if fromBackend > 0 {
            registry.makeCounter(
                descriptor: MetricFamilies.passthroughBytes, labels: base + [("direction", "from_backend")]
            ).increment(by: fromBackend)
        }
    }
}
