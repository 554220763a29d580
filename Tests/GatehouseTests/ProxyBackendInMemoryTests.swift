import GatehouseHTTP1
import GatehouseTLS
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// Client ↔ proxy ↔ backend in memory: the client side is `ClientPipeline.addHTTP1` (the
/// connection clocks, the HTTP/1.1 codec, `HTTP1ServerAdapter`, `ProxyHandler`) on one `EmbeddedChannel`; the backend is a `BackendConnection` pipeline
/// (request encoder, response decoder, its handler) on another, handed out by the pool's connector.
/// TLS is left out on both sides (its handlers sit below these layers and pass bytes through), so
/// this is the proxy from the decrypted client bytes to the bytes a backend would decrypt. Both
/// channels share one `EmbeddedEventLoop`, whose time the tests advance.
@Suite struct ProxyBackendInMemoryTests {
    /// Counts the `read` calls that get past every handler to the channel itself.
    final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// The backend channels the pool opened, in order, with their read counters.
    final class Backends: @unchecked Sendable {
        var channels: [EmbeddedChannel] = []
        var readCounters: [ReadCounter] = []
    }

    /// One client connection in front of an in-memory pool of one server.
    struct Harness {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let clientReads = ReadCounter()
        let backends = Backends()

        init(clientIdleTimeout: TimeAmount = .seconds(120), routeIdleTimeout: TimeAmount = .seconds(120)) throws {
            let loop = self.loop
            let backends = self.backends
            let pool = BackendPool(
                name: "mailbox", servers: [BackendServer(name: "mbx01", host: "127.0.0.1", port: 1, tlsName: "mbx01")],
                tls: try TLSClientContext(trust: BackendTrust(useSystemStore: true)), connectTimeout: .seconds(5),
                idleTimeout: .seconds(60), maxIdlePerServer: 4, balance: .leastRequests,
                health: HealthCheckConfiguration(), healthPaths: [], maxPinnedPerServer: 10,
                maxConnectingPerServer: 4, queueTimeout: .seconds(3),
                connector: { server, _, _ in
                    let channel = EmbeddedChannel(loop: loop)
                    let counter = ReadCounter()
                    let ready = loop.makePromise(of: BackendConnection.self)
                    do {
                        try channel.pipeline.syncOperations.addHandler(counter)
                        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
                        try BackendConnection.install(on: channel, server: server, tls: nil, ready: ready)
                    } catch {
                        ready.fail(error)
                    }
                    backends.channels.append(channel)
                    backends.readCounters.append(counter)
                    return ready.futureResult
                })
            let table = try RoutingTable(services: [
                .init(name: "mail", hosts: ["mail.contoso.com"], routes: [.init(prefix: "/", id: 0)], redirectRootTo: nil)
            ])
            let policy = RoutePolicy(poolIndex: 0, name: "mail/all", idleTimeout: routeIdleTimeout, maxBodyBytes: 1 << 30)
            let environment = ProxyEnvironment(
                router: ExchangeRouter(table: table, policies: [policy]),
                pools: LoopPoolSet(pools: [pool], group: loop), logger: Logger(label: "test"),
                accessLog: nil)
            let facts = ClientConnectionFacts(
                clientIP: IPAddress(ipv4: 0x7F00_0001), isTLS: true, serverName: nil,
                certificateCovers: { _ in true })
            client = EmbeddedChannel(loop: loop)
            try client.pipeline.syncOperations.addHandler(clientReads)
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            // The HTTP/1.1 handlers the TLS listener installs after the handshake, clocks included.
            var limits = ClientLimits()
            limits.clientIdleTimeout = .seconds(clientIdleTimeout.nanoseconds / 1_000_000_000)
            try ClientPipeline.addHTTP1(to: client, environment: environment, facts: facts, limits: limits)
        }

        /// The one backend channel (the test fails when the pool opened none).
        func backend(_ index: Int = 0) throws -> EmbeddedChannel {
            try #require(backends.channels.count > index, "the pool opened \(backends.channels.count) connections")
            return backends.channels[index]
        }

        func send(_ text: String) throws {
            try client.writeInbound(ByteBuffer(string: text))
            loop.run()
        }

        func answer(_ text: String, backend index: Int = 0) throws {
            try backend(index).writeInbound(ByteBuffer(string: text))
            loop.run()
        }

        /// Everything written to `channel` since the last call, as text.
        func written(_ channel: EmbeddedChannel) throws -> String {
            var text = ""
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                text += buffer.readString(length: buffer.readableBytes) ?? ""
            }
            return text
        }

        /// Makes `channel` unwritable (its write buffer above the high watermark) or writable again.
        func setWritable(_ channel: EmbeddedChannel, _ writable: Bool) {
            channel.isWritable = writable
            channel.pipeline.fireChannelWritabilityChanged()
            loop.run()
        }
    }

    private static let host = "Host: mail.contoso.com\r\n"

    @Test func uploadStopsReadingTheClientWhileTheBackendCannotTakeMore() throws {
        let h = try Harness()
        try h.send("POST /up HTTP/1.1\r\n\(Self.host)Content-Length: 3000\r\n\r\n" + String(repeating: "a", count: 1000))
        let backend = try h.backend()
        var toBackend = try h.written(backend)
        #expect(toBackend.hasPrefix("POST /up HTTP/1.1\r\n"))
        h.client.read()
        let reads = h.clientReads.reads
        #expect(reads > 0, "reads pass while the backend takes the body")

        h.setWritable(backend, false)
        h.client.read()
        h.client.read()
        #expect(h.clientReads.reads == reads, "a read reached the client socket while the backend was unwritable")

        h.setWritable(backend, true)
        #expect(h.clientReads.reads == reads + 1, "the held read is let through once the backend drains")
        try h.send(String(repeating: "b", count: 2000))
        toBackend += try h.written(backend)
        let body = try #require(toBackend.components(separatedBy: "\r\n\r\n").last)
        #expect(body == String(repeating: "a", count: 1000) + String(repeating: "b", count: 2000))
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let toClient = try h.written(h.client)
        #expect(toClient.hasPrefix("HTTP/1.1 200 OK\r\n") && toClient.hasSuffix("\r\n\r\nok"))
    }

    @Test func downloadStopsReadingTheBackendWhileTheClientCannotTakeMore() throws {
        let h = try Harness()
        try h.send("GET /big HTTP/1.1\r\n\(Self.host)\r\n")
        let backend = try h.backend()
        #expect(try h.written(backend).hasPrefix("GET /big HTTP/1.1\r\n"))
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + String(repeating: "a", count: 1000))
        backend.read()
        let reads = h.backends.readCounters[0].reads
        #expect(reads > 0)

        h.setWritable(h.client, false)
        backend.read()
        backend.read()
        #expect(h.backends.readCounters[0].reads == reads, "a read reached the backend while the client was unwritable")

        h.setWritable(h.client, true)
        #expect(h.backends.readCounters[0].reads == reads + 1, "the held read is let through once the client drains")
        try h.answer(String(repeating: "b", count: 2000))
        let toClient = try h.written(h.client)
        #expect(toClient.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(toClient.hasSuffix(String(repeating: "a", count: 1000) + String(repeating: "b", count: 2000)))
    }

    @Test func pipelinedRequestsReachTheBackendOneAtATimeAndAnswerInOrder() throws {
        let h = try Harness()
        try h.send("GET /one HTTP/1.1\r\n\(Self.host)\r\nGET /two HTTP/1.1\r\n\(Self.host)\r\n")
        let backend = try h.backend()
        let first = try h.written(backend)
        #expect(first.hasPrefix("GET /one HTTP/1.1\r\n") && !first.contains("/two"), "\(first)")
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        // The second request is sent only now, on the same (reused) backend connection.
        let second = try h.written(backend)
        #expect(second.hasPrefix("GET /two HTTP/1.1\r\n"), "\(second)")
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        #expect(h.backends.channels.count == 1)
        let toClient = try h.written(h.client)
        let one = try #require(toClient.range(of: "\r\n\r\none"))
        let two = try #require(toClient.range(of: "\r\n\r\ntwo"))
        #expect(one.upperBound <= two.lowerBound)
    }

    @Test func anIdleClientConnectionClosesAfterClientIdleTimeout() throws {
        let h = try Harness(clientIdleTimeout: .seconds(10))
        try h.send("GET /one HTTP/1.1\r\n\(Self.host)\r\n")
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
        _ = try h.written(h.client)
        h.loop.advanceTime(by: .seconds(9))
        #expect(h.client.isActive)
        h.loop.advanceTime(by: .seconds(1))
        #expect(!h.client.isActive)
    }

    @Test func aRequestInProgressIsNotIdleAndAHeadMustArriveWithinTheHeaderTimeout() throws {
        let h = try Harness(clientIdleTimeout: .seconds(10))
        // A long poll: the backend holds the answer well past the client idle timeout.
        try h.send("GET /poll HTTP/1.1\r\n\(Self.host)\r\n")
        h.loop.advanceTime(by: .seconds(60))
        #expect(h.client.isActive)
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(try h.written(h.client).hasSuffix("ok"))
        // A head that trickles in: closed at client_header_timeout (30 s) from its first byte,
        // unless the idle clock (10 s from the response) comes first, as it does here.
        h.loop.advanceTime(by: .seconds(5))
        try h.send("GET /next HTTP/1.1\r\n")
        h.loop.advanceTime(by: .seconds(4))
        #expect(h.client.isActive)
        h.loop.advanceTime(by: .seconds(1))
        #expect(!h.client.isActive)
        let slow = try Harness(clientIdleTimeout: .seconds(100))
        try slow.send("GET /next HTTP/1.1\r\n")
        slow.loop.advanceTime(by: .seconds(29))
        #expect(slow.client.isActive)
        slow.loop.advanceTime(by: .seconds(1))
        #expect(!slow.client.isActive, "client_header_timeout")
    }

    @Test func aSilentBackendHitsTheRouteIdleTimeoutWith504() throws {
        let h = try Harness(routeIdleTimeout: .seconds(30))
        try h.send("GET /slow HTTP/1.1\r\n\(Self.host)\r\n")
        #expect(try h.written(h.backend()).hasPrefix("GET /slow"))
        h.loop.advanceTime(by: .seconds(29))
        #expect(try h.written(h.client).isEmpty)
        h.loop.advanceTime(by: .seconds(1))
        #expect(try h.written(h.client).hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
        #expect(!(try h.backend()).isActive, "the backend connection of an abandoned exchange is closed")
    }
}
