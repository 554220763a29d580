import Testing

@testable import Gatehouse

/// Pass-through connections and bytes in the Prometheus exposition, with a bounded outcome label
/// (the log's outcome text can name an SNI or an error and must never become a label).
@Suite struct MetricsPassthroughTests {
    @Test func connectionsAndBytesAreCountedPerListenerPoolAndOutcome() {
        let metrics = GatehouseMetrics(loops: 1)
        metrics.recordPassthrough(listener: "pt", pool: "mailbox", outcome: nil, fromClient: 700, fromBackend: 1_000_000)
        metrics.recordPassthrough(listener: "pt", pool: "mailbox", outcome: "ok", fromClient: 300, fromBackend: 0)
        metrics.recordPassthrough(
            listener: "pt", pool: nil, outcome: "closed: no route for SNI 'evil\"name'", fromClient: 517, fromBackend: 0)
        metrics.recordPassthrough(listener: "pt", pool: "mailbox", outcome: "connect_failed", fromClient: 0, fromBackend: 0)
        let samples = metricSamples(metrics)
        #expect(samples[#"gatehouse_passthrough_connections_total{listener="pt",pool="mailbox",outcome="ok"}"#] == 2)
        #expect(samples[#"gatehouse_passthrough_connections_total{listener="pt",pool="",outcome="closed"}"#] == 1)
        #expect(samples[#"gatehouse_passthrough_connections_total{listener="pt",pool="mailbox",outcome="connect_failed"}"#] == 1)
        #expect(samples[#"gatehouse_passthrough_bytes_total{listener="pt",pool="mailbox",direction="from_client"}"#] == 1000)
        #expect(samples[#"gatehouse_passthrough_bytes_total{listener="pt",pool="mailbox",direction="from_backend"}"#] == 1_000_000)
        #expect(!metrics.exposition().contains("evil"))
    }

    @Test func outcomeLabelIsBounded() {
        #expect(GatehouseMetrics.passthroughOutcome(nil) == "ok")
        #expect(GatehouseMetrics.passthroughOutcome("idle_timeout") == "idle_timeout")
        #expect(GatehouseMetrics.passthroughOutcome("hello_timeout") == "hello_timeout")
        #expect(GatehouseMetrics.passthroughOutcome("error (backend): Connection reset") == "error")
        #expect(GatehouseMetrics.passthroughOutcome("client ended its output before a whole ClientHello") == "closed")
    }
}
