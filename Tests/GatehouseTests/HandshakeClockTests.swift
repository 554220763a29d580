import GatehouseHTTP1
import GatehouseTLS
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// The TLS listeners' handshake timeout on the event loop's `ConnectionClock` (kept by
/// `ProtocolSwitchHandler`, the `OpenSSLHandler` arming no timer of its own): a handshake that does
/// not finish in time fails with `.handshakeTimeout` (counted as `reason="timeout"`) within one
/// clock tick, never before; one that finishes leaves no entry on the clock and is never cut.
@Suite struct HandshakeClockTests {
    private struct LocalRouter: ProxyRouter {
        func decide(head: HTTPRequestHead, framing: RequestFraming.Parsed, connection: ClientConnectionFacts) -> ProxyDecision {
            .respond(LocalResponse(status: .ok, body: "hello\n", reason: "test"))
        }

        func clientResponseHead(_ head: HTTPResponseHead, policy: RoutePolicy) -> HTTPResponseHead { head }
    }

    private struct Server {
        let channel = EmbeddedChannel()
        let store: CertificateStore
        let leaf: X509Certificate
        let metrics = GatehouseMetrics()
        let listener: ListenerMetrics

        init(handshakeTimeout: TimeAmount) throws {
            var policy = TLSPolicy.exchangeDefault
            policy.handshakeTimeout = handshakeTimeout
            let key = try PrivateKey.generate(.p256)
            leaf = try CertificateFactory.selfSigned(.exchangeBackEnd(name: "mail", fqdn: "mail.contoso.lab"), key: key)
            store = try CertificateStore(
                certificates: [try CertifiedKey(chain: [leaf], key: key)], defaultCertificate: nil, policy: policy,
                alpn: ["http/1.1"], strictSNI: false)
            listener = ListenerMetrics(name: "https", store: store, registry: metrics.registry)
            let environment = ProxyEnvironment(
                router: LocalRouter(), pools: LoopPoolSet(pools: [], group: channel.embeddedEventLoop),
                logger: Logger(label: "test"), accessLog: nil, metrics: metrics)
            try ClientPipeline.configureTLS(
                channel: channel, store: store, environment: environment, limits: ClientLimits(), http2: nil,
                metrics: listener)
        }

        var clock: ConnectionClock { ConnectionClock.on(channel.embeddedEventLoop) }

        func timeouts() -> Double? {
            metricSamples(metrics)[#"gatehouse_tls_handshake_failures_total{listener="https",reason="timeout"}"#]
        }
    }

    @Test func anUnfinishedHandshakeIsCutAtItsTimeoutOnTheClock() throws {
        let server = try Server(handshakeTimeout: .seconds(3))
        try server.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        #expect(server.clock.armedCount == 1)
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(2_900))
        #expect(server.channel.isActive)
        #expect(server.timeouts() ?? 0 == 0)
        // Due at 3 s; the clock's tick (100 ms) may add at most one tick.
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        server.channel.embeddedEventLoop.run()
        #expect(!server.channel.isActive)
        #expect(server.timeouts() == 1)
        #expect(server.clock.entryCount == 0)
        _ = try? server.channel.finish()
    }

    @Test func aFinishedHandshakeLeavesTheClockAndIsNeverCut() throws {
        let server = try Server(handshakeTimeout: .seconds(3))
        let client = EmbeddedChannel(loop: server.channel.embeddedEventLoop)
        try client.pipeline.syncOperations.addHandler(
            OpenSSLHandler(
                client: try TLSClientContext(trust: BackendTrust(trustedCertificates: [server.leaf])),
                serverName: "mail.contoso.lab"))
        try server.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        for _ in 0..<10 {
            while let bytes = try client.readOutbound(as: ByteBuffer.self) { try server.channel.writeInbound(bytes) }
            while let bytes = try server.channel.readOutbound(as: ByteBuffer.self) { try client.writeInbound(bytes) }
        }
        // ProtocolSwitchHandler left with the handshake; HTTP/1.1's own clock entry took its place.
        #expect(throws: (any Error).self) { try server.channel.pipeline.syncOperations.handler(type: ProtocolSwitchHandler.self) }
        #expect(server.clock.entryCount == 1)
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(server.channel.isActive)
        #expect(server.timeouts() ?? 0 == 0)
        _ = try? client.finish()
        _ = try? server.channel.finish()
    }
}
