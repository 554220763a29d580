import Foundation
import NIOCore
import NIOPosix
import NIOTLS
import Testing

@testable import GatehouseTLS

/// Real TLS between two OpenSSLHandlers over loopback sockets.
@Suite struct OpenSSLHandlerTests {
    @Test func handshakeAndDataBothWaysWithALPN() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let client = try fixture.client(alpn: ["h2", "http/1.1"])
        let (channel, log) = try await bed.connect(context: client, serverName: "mail.contoso.com")
        try await send(channel, Array("hello over TLS".utf8))
        #expect(await eventually { log.bytes.count == 14 })
        #expect(String(decoding: log.bytes, as: UTF8.self) == "hello over TLS")
        #expect(log.negotiated == "h2")
        let info = try #require(log.info)
        #expect(info.negotiatedProtocol == "h2")
        #expect(info.protocolVersion == "TLSv1.3")
        #expect(info.peerCertificate?.sha256Fingerprint == fixture.trustedLeaf.sha256Fingerprint)
        let serverLog = try #require(bed.serverLogs.first)
        #expect(serverLog.info?.serverName == "mail.contoso.com")
        #expect(serverLog.info?.servedCertificate === fixture.certified.leaf)
        #expect(serverLog.info?.servedCertificate?.covers(hostName: "mail.contoso.com") == true)
        try await channel.close().get()
        #expect(await eventually { serverLog.inactive })
        #expect(log.errors.isEmpty)
        #expect(serverLog.errors.isEmpty, "a close_notify close must not be reported as an error")
        await bed.shutdown()
    }

    @Test func alpnFallsBackToHTTP11AndToNone() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let (first, log1) = try await bed.connect(context: try fixture.client(alpn: ["http/1.1"]), serverName: "mail.contoso.com")
        try await send(first, [1])
        #expect(await eventually { log1.bytes == [1] })
        #expect(log1.negotiated == "http/1.1")
        let (second, log2) = try await bed.connect(context: try fixture.client(alpn: []), serverName: "mail.contoso.com")
        try await send(second, [2])
        #expect(await eventually { log2.bytes == [2] })
        #expect(log2.handshakeDone)
        #expect(log2.negotiated == nil)
        try await first.close().get()
        try await second.close().get()
        await bed.shutdown()
    }

    @Test func eightMebibytesBothWays() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let (channel, log) = try await bed.connect(context: try fixture.client(), serverName: "mail.contoso.com")
        // A cheap pseudo-random pattern (xorshift): every byte position matters for the comparison.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var payload = [UInt8](repeating: 0, count: 8 << 20)
        for index in payload.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            payload[index] = UInt8(truncatingIfNeeded: state)
        }
        // Written as several writes then one flush, like an HTTP codec would.
        let slices = stride(from: 0, to: payload.count, by: 3 << 20).map { Array(payload[$0..<min(payload.count, $0 + (3 << 20))]) }
        var futures: [EventLoopFuture<Void>] = []
        for slice in slices {
            var buffer = channel.allocator.buffer(capacity: slice.count)
            buffer.writeBytes(slice)
            futures.append(channel.write(buffer))
        }
        channel.flush()
        for future in futures { try await future.get() }
        #expect(await eventually(30) { log.byteCount == payload.count })
        #expect(log.bytes == payload, "the echoed 8 MiB must come back unchanged")
        #expect(bed.serverLogs.first?.bytes.count == payload.count)
        try await channel.close().get()
        await bed.shutdown()
    }

    @Test func writesBeforeHandshakeAreHeldAndDelivered() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let client = try fixture.client()
        let log = EventLog()
        let channel = try await ClientBootstrap(group: bed.group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(client: client, serverName: "mail.contoso.com"))
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: log))
                    // Written during set-up, long before the handshake can have finished.
                    var buffer = channel.allocator.buffer(capacity: 5)
                    buffer.writeString("early")
                    channel.writeAndFlush(buffer, promise: nil)
                }
            }
            .connect(host: "127.0.0.1", port: bed.port).get()
        #expect(await eventually { log.bytes == Array("early".utf8) })
        try await channel.close().get()
        await bed.shutdown()
    }

    @Test func uncleanCloseIsReportedDistinctly() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let (channel, log) = try await bed.connect(context: try fixture.client(), serverName: "mail.contoso.com")
        try await send(channel, Array("ping".utf8))
        #expect(await eventually { log.bytes.count == 4 })
        // The server drops TCP without close_notify.
        let serverChannel = try #require(await serverChildChannel(bed))
        try await closeRaw(serverChannel)
        #expect(await eventually { log.inactive })
        #expect(log.tlsErrors.map(\.kind) == [.uncleanShutdown])
        await bed.shutdown()
    }

    @Test func closeNotifyIsACleanEndForThePeer() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let (channel, log) = try await bed.connect(context: try fixture.client(), serverName: "mail.contoso.com")
        try await send(channel, Array("ping".utf8))
        #expect(await eventually { log.bytes.count == 4 })
        let serverChannel = try #require(await serverChildChannel(bed))
        try await serverChannel.close().get()  // through the TLS handler: close_notify first
        #expect(await eventually { log.inactive })
        #expect(log.errors.isEmpty, "close_notify then EOF is clean: \(log.errors)")
        await bed.shutdown()
    }

    @Test func halfCloseDeliversInputClosedAndAllowsReply() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store, echo: true, halfClosure: true)
        let (channel, log) = try await bed.connect(context: try fixture.client(), serverName: "mail.contoso.com")
        try await send(channel, Array("request".utf8))
        #expect(await eventually { log.bytes.count == 7 })
        // Client half-closes: close_notify + shutdown(write). The server sees inputClosed, can still write.
        try await channel.close(mode: .output).get()
        let serverLog = try #require(bed.serverLogs.first)
        #expect(await eventually { serverLog.events.contains("inputClosed") })
        let serverChannel = try #require(await serverChildChannel(bed))
        try await send(serverChannel, Array("late reply".utf8))
        #expect(await eventually { String(decoding: log.bytes, as: UTF8.self) == "requestlate reply" })
        #expect(serverLog.errors.isEmpty)
        try await channel.close().get()
        await bed.shutdown()
    }

    @Test func handshakeTimeoutClosesSilentClient() async throws {
        var policy = TLSPolicy.exchangeDefault
        policy.handshakeTimeout = .milliseconds(300)
        let fixture = try Fixture(policy: policy)
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let (_, rawLog) = try await bed.connectRaw()  // says nothing
        #expect(await eventually(5) { rawLog.inactive }, "the server must close the connection")
        let serverLog = try #require(bed.serverLogs.first)
        #expect(serverLog.tlsErrors.map(\.kind) == [.handshakeTimeout])
        await bed.shutdown()
    }

    @Test func garbageInsteadOfClientHelloFailsTheHandshake() async throws {
        // A handshake timeout far beyond any scheduling delay: on a loaded machine the 10 s default
        // closed the connection before the garbage was sent ("I/O on closed channel").
        var policy = TLSPolicy.exchangeDefault
        policy.handshakeTimeout = .seconds(600)
        let fixture = try Fixture(policy: policy)
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let (raw, rawLog) = try await bed.connectRaw()
        try await send(raw, Array("GET / HTTP/1.1\r\nHost: mail.contoso.com\r\n\r\n".utf8))
        #expect(await eventually { rawLog.inactive })
        let serverLog = try #require(bed.serverLogs.first)
        #expect(serverLog.tlsErrors.map(\.kind) == [.handshake])
        #expect(!serverLog.handshakeDone)
        #expect(serverLog.bytes.isEmpty)
        await bed.shutdown()
    }

    @Test(arguments: [TLSVersion.tls1_3, .tls1_2])
    func sessionResumptionTowardsTheServer(version: TLSVersion) async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        var policy = TLSPolicy.exchangeDefault
        policy.maximumVersion = version
        let client = try fixture.client(policy: policy)
        for round in 0..<3 {
            let (channel, log) = try await bed.connect(context: client, serverName: "mail.contoso.com")
            try await send(channel, [UInt8(round)])
            #expect(await eventually { log.bytes == [UInt8(round)] })
            let info = try #require(log.info)
            #expect(info.protocolVersion == version.rawValue)
            #expect(info.sessionReused == (round > 0), "round \(round) reused=\(info.sessionReused)")
            try await channel.close().get()
        }
        await bed.shutdown()
    }

    @Test func dataArrivesAfterTheHandshakeEvent() async throws {
        let fixture = try Fixture()
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        let (channel, _) = try await bed.connect(context: try fixture.client(), serverName: "mail.contoso.com")
        try await send(channel, Array("x".utf8))
        let serverLog = try #require(bed.serverLogs.first)
        #expect(await eventually { serverLog.bytes.count == 1 })
        #expect(!serverLog.events.contains("data-before-handshake"))
        #expect(serverLog.events.first == "handshake")
        try await channel.close().get()
        await bed.shutdown()
    }

    /// The server side channel of the first accepted connection.
    private func serverChildChannel(_ bed: TLSTestBed) async -> Channel? {
        bed.acceptedChannels.first
    }
}

/// The standard NIO ALPN switch and resumption on a certificate chosen by SNI.
@Suite struct OpenSSLHandlerIntegrationTests {
    @Test func applicationProtocolNegotiationHandlerSeesFirstBytes() async throws {
        let fixture = try Fixture()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let serverLog = EventLog()
        let store = fixture.store
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: store))
                    let negotiation = ApplicationProtocolNegotiationHandler { result, channel in
                        serverLog.record(event: "alpn:\(result)")
                        return channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: serverLog))
                        }
                    }
                    try channel.pipeline.syncOperations.addHandler(negotiation)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = try fixture.client(alpn: ["h2"])
        let clientLog = EventLog()
        // The request is written before the handshake ends, so it follows the client's Finished
        // immediately (often in the same segment): the switch must still see it.
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(client: client, serverName: "mail.contoso.com"))
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: clientLog))
                    var buffer = channel.allocator.buffer(capacity: 16)
                    buffer.writeString("PRI * HTTP/2.0")
                    channel.writeAndFlush(buffer, promise: nil)
                }
            }
            .connect(host: "127.0.0.1", port: server.localAddress!.port!).get()
        #expect(await eventually { serverLog.bytes == Array("PRI * HTTP/2.0".utf8) })
        #expect(serverLog.events.first == "alpn:negotiated(\"h2\")")
        try await channel.close().get()
        try await server.close().get()
        try await group.shutdownGracefully()
    }

    @Test func resumptionWorksOnSNISelectedCertificate() async throws {
        let pki = try TestPKI()
        let first = try pki.certified(pki.selfSigned(cn: "default.contoso.com", dns: ["default.contoso.com"]))
        let secondFiles = try pki.selfSigned(cn: "mbx01.contoso.local", dns: ["mbx01.contoso.local"], key: .rsa)
        let second = try pki.certified(secondFiles)
        let store = try CertificateStore(
            certificates: [first, second], defaultCertificate: first,
            policy: .exchangeDefault, alpn: ["http/1.1"], strictSNI: false)
        let bed = TLSTestBed()
        try await bed.startServer(store: store)
        for version in [TLSVersion.tls1_2, .tls1_3] {
            var policy = TLSPolicy.exchangeDefault
            policy.maximumVersion = version
            let client = try TLSClientContext(trust: BackendTrust(trustedCertificates: [second.leaf]), policy: policy)
            for round in 0..<2 {
                let (channel, log) = try await bed.connect(context: client, serverName: "mbx01.contoso.local")
                try await send(channel, [7])
                #expect(await eventually { log.bytes == [7] })
                #expect(log.info?.peerCertificate?.sha256Fingerprint == second.leaf.sha256Fingerprint)
                #expect(log.info?.sessionReused == (round == 1), "\(version) round \(round)")
                try await channel.close().get()
            }
        }
        await bed.shutdown()
    }
}

/// strictSNI refuses unknown names in a real handshake, with unrecognized_name.
@Suite struct StrictSNIHandshakeTests {
    @Test func unknownNameFailsHandshakeKnownNameWorks() async throws {
        let pki = try TestPKI()
        let files = try pki.selfSigned(cn: "mail.contoso.com", dns: ["mail.contoso.com", "other.contoso.com"])
        let certified = try pki.certified(files)
        let store = try CertificateStore(
            certificates: [certified], defaultCertificate: nil, policy: .exchangeDefault,
            alpn: ["http/1.1"], strictSNI: true)
        let bed = TLSTestBed()
        try await bed.startServer(store: store)
        // The client trusts the certificate and accepts any of its names: only SNI decides.
        let client = try TLSClientContext(trust: BackendTrust(trustedCertificates: [certified.leaf]))
        let (_, refused) = try await bed.connect(context: client, serverName: "unknown.contoso.com")
        #expect(await eventually { refused.inactive })
        #expect(refused.tlsErrors.first?.kind == .handshake)
        #expect(refused.tlsErrors.first?.message.contains("unrecognized name") == true, "\(refused.errors)")
        #expect(await eventually { bed.serverLogs.first?.inactive == true })
        #expect(bed.serverLogs.first?.tlsErrors.first?.message.contains("strict SNI") == true)
        let (channel, accepted) = try await bed.connect(context: client, serverName: "other.contoso.com")
        try await send(channel, [1])
        #expect(await eventually { accepted.bytes == [1] })
        try await channel.close().get()
        await bed.shutdown()
    }
}

/// Resumption from the server-side session cache (tickets switched off on the server).
@Suite struct ServerSessionCacheTests {
    @Test(arguments: [TLSVersion.tls1_2, .tls1_3])
    func resumesFromTheServerCacheWithoutTickets(version: TLSVersion) async throws {
        var serverPolicy = TLSPolicy.exchangeDefault
        serverPolicy.sessionTickets = false
        let fixture = try Fixture(policy: serverPolicy)
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        var clientPolicy = TLSPolicy.exchangeDefault
        clientPolicy.maximumVersion = version
        let client = try fixture.client(policy: clientPolicy)
        for round in 0..<3 {
            let (channel, log) = try await bed.connect(context: client, serverName: "mail.contoso.com")
            try await send(channel, [UInt8(round)])
            #expect(await eventually { log.bytes == [UInt8(round)] })
            #expect(log.info?.sessionReused == (round > 0), "\(version) round \(round)")
            try await channel.close().get()
        }
        await bed.shutdown()
    }

    @Test func cacheSizeZeroMeansFullHandshakes() async throws {
        var serverPolicy = TLSPolicy.exchangeDefault
        serverPolicy.sessionTickets = false
        serverPolicy.sessionCacheSize = 0
        let fixture = try Fixture(policy: serverPolicy)
        let bed = TLSTestBed()
        try await bed.startServer(store: fixture.store)
        var clientPolicy = TLSPolicy.exchangeDefault
        clientPolicy.maximumVersion = .tls1_2
        let client = try fixture.client(policy: clientPolicy)
        for round in 0..<2 {
            let (channel, log) = try await bed.connect(context: client, serverName: "mail.contoso.com")
            try await send(channel, [1])
            #expect(await eventually { log.bytes == [1] })
            #expect(log.info?.sessionReused == false, "round \(round)")
            try await channel.close().get()
        }
        await bed.shutdown()
    }
}
