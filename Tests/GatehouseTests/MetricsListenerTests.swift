import GatehouseTLS
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// Listener metrics (connections by protocol, handshakes, failures, certificate expiry) and a
/// request answered before routing, counted through the real client pipeline in memory.
@Suite struct MetricsListenerTests {
    private func store() throws -> CertificateStore {
        let key = try PrivateKey.generate(.p256)
        let leaf = try CertificateFactory.selfSigned(.exchangeBackEnd(name: "mail", fqdn: "mail.contoso.lab"), key: key)
        let certified = try CertifiedKey(chain: [leaf], key: key)
        return try CertificateStore(
            certificates: [certified], defaultCertificate: nil, policy: .exchangeDefault,
            alpn: ["h2", "http/1.1"], strictSNI: false)
    }

    @Test func handshakesCountConnectionsByProtocolAndFailuresByReason() throws {
        let metrics = GatehouseMetrics()
        let listener = ListenerMetrics(name: "https", store: try store(), registry: metrics.registry)
        let h2 = listener.handshakeCompleted(nil, http2: true)
        _ = listener.handshakeCompleted(nil, http2: false)
        _ = listener.handshakeCompleted(nil, http2: false)
        h2.decrement()  // the HTTP/2 connection closed
        listener.handshakeFailed(TLSError(.handshakeTimeout, "late"))
        listener.handshakeFailed(TLSError(.handshake, "TLS handshake failed (error:0A0000C1:SSL routines::no shared cipher)"))
        listener.handshakeFailed(TLSError(.handshake, "TLS handshake failed (error:0A0000C1:SSL routines::no shared cipher)"))

        let samples = metricSamples(metrics)
        #expect(samples[#"gatehouse_client_connections_open{listener="https",protocol="h1"}"#] == 2)
        #expect(samples[#"gatehouse_client_connections_open{listener="https",protocol="h2"}"#] == 0)
        #expect(samples[#"gatehouse_client_connections_total{listener="https",protocol="h2"}"#] == 1)
        #expect(samples[#"gatehouse_client_connections_total{listener="https",protocol="h1"}"#] == 2)
        #expect(
            samples[#"gatehouse_tls_handshakes_total{listener="https",version="unknown",cipher="unknown",certificate="",sha256=""}"#] == 3)
        #expect(samples[#"gatehouse_tls_handshake_failures_total{listener="https",reason="timeout"}"#] == 1)
        #expect(samples[#"gatehouse_tls_handshake_failures_total{listener="https",reason="no_shared_cipher"}"#] == 2)
    }

    @Test func connectionCapsAreGaugesReadAtScrapeTime() {
        let metrics = GatehouseMetrics()
        let tls = ConnectionCap(limit: 3, key: "max_connections")
        let redirect = ConnectionCap(limit: 2, key: "max_redirect_connections")
        for _ in 0..<4 { _ = tls.admit() }  // the fourth is refused and not counted
        _ = redirect.admit()
        redirect.release()
        MetricsScrape.setConnectionGauges(metrics: metrics, caps: [tls, redirect])
        let text = metrics.exposition()
        #expect(text.contains("gatehouse_client_connections_counted{limit=\"max_connections\"} 3"), "\(text)")
        #expect(text.contains("gatehouse_client_connections_counted{limit=\"max_redirect_connections\"} 0"))
        #expect(text.contains("gatehouse_client_connection_limit{limit=\"max_connections\"} 3"))
        #expect(text.contains("gatehouse_client_connection_limit{limit=\"max_redirect_connections\"} 2"))
    }

    @Test func certificateLabelsNameTheCertificateAndItsFingerprint() throws {
        let store = try store()
        let labels = ListenerMetrics.CertificateLabels(store.certificates[0].leaf)
        #expect(labels.name == "mail")
        #expect(labels.sha256.count == 16)
        #expect(store.certificates[0].leaf.sha256Fingerprint.lowercased().hasPrefix(labels.sha256))
    }

    /// Answers every request itself: 200, or 403 for `/deny`.
    private struct LocalRouter: ProxyRouter {
        func decide(head: HTTPRequestHead, framing: RequestFraming.Parsed, connection: ClientConnectionFacts) -> ProxyDecision {
            if head.uri == "/deny" { return .respond(LocalResponse(status: .forbidden, reason: "test deny")) }
            return .respond(LocalResponse(status: .ok, body: "hello\n", reason: "test"))
        }

        func clientResponseHead(_ head: HTTPResponseHead, policy: RoutePolicy) -> HTTPResponseHead { head }
    }

    @Test func requestsAnsweredBeforeRoutingAreCountedWithEmptyRouteLabels() throws {
        let metrics = GatehouseMetrics()
        let channel = EmbeddedChannel()
        let environment = ProxyEnvironment(
            router: LocalRouter(), pools: LoopPoolSet(pools: [], group: channel.embeddedEventLoop),
            logger: Logger(label: "test"), accessLog: nil, metrics: metrics)
        let facts = ClientConnectionFacts(clientIP: nil, isTLS: true, serverName: nil, certificateCovers: { _ in true })
        let sync = channel.pipeline.syncOperations
        try ClientPipeline.addHTTP1Codec(to: sync, limits: ClientLimits(), answersErrors: false)
        try sync.addHandler(HTTP1ServerAdapter())
        try sync.addHandler(ProxyHandler(environment: environment, facts: facts, clientProtocol: .http1))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try channel.writeInbound(
            ByteBuffer(
                string: "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /deny HTTP/1.1\r\nHost: a\r\n\r\n"
                    + "GET /b HTTP/1.1\r\nHost: a\r\n\r\n"))
        channel.embeddedEventLoop.run()

        let samples = metricSamples(metrics)
        let unrouted = #"service="",route="",pool="",server="""#
        #expect(samples[#"gatehouse_requests_total{\#(unrouted),class="2xx"}"#] == 2)
        #expect(samples[#"gatehouse_requests_total{\#(unrouted),class="4xx"}"#] == 1)
        #expect(samples[#"gatehouse_requests_total{\#(unrouted),class="5xx"}"#] == 0)
        _ = try? channel.finish()
    }
}
