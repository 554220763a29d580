import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import GatehouseTLS

/// Deterministic handshakes between two EmbeddedChannels: the test decides how bytes are batched.
@Suite struct EmbeddedHandshakeTests {
    /// A client and a server channel with recorders.
    struct Pair {
        let client = EmbeddedChannel()
        let server = EmbeddedChannel()
        let clientLog = EventLog()
        let serverLog = EventLog()

        init(fixture: Fixture, clientContext: TLSClientContext) throws {
            try server.pipeline.syncOperations.addHandler(OpenSSLHandler(server: fixture.store))
            try server.pipeline.syncOperations.addHandler(RecordingHandler(log: serverLog))
            try client.pipeline.syncOperations.addHandler(OpenSSLHandler(client: clientContext, serverName: "mail.contoso.com"))
            try client.pipeline.syncOperations.addHandler(RecordingHandler(log: clientLog))
        }

        /// Moves everything each side wrote to the other, each direction as ONE buffer, until quiet.
        func pump() throws {
            for _ in 0..<20 {
                let toServer = try Self.drain(client)
                if let toServer { try server.writeInbound(toServer) }
                let toClient = try Self.drain(server)
                if let toClient { try client.writeInbound(toClient) }
                if toServer == nil && toClient == nil { return }
            }
        }

        private static func drain(_ channel: EmbeddedChannel) throws -> ByteBuffer? {
            var combined: ByteBuffer? = nil
            while var next = try channel.readOutbound(as: ByteBuffer.self) {
                if combined == nil { combined = next } else { combined!.writeBuffer(&next) }
            }
            return combined
        }
    }

    @Test func finishedAndFirstRequestInOneReadFireHandshakeFirst() throws {
        let fixture = try Fixture()
        let pair = try Pair(fixture: fixture, clientContext: try fixture.client())
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        // Written before the handshake: it leaves together with the client's Finished.
        var request = pair.client.allocator.buffer(capacity: 32)
        request.writeString("GET /owa/ HTTP/1.1\r\n\r\n")
        pair.client.writeAndFlush(request, promise: nil)
        try pair.pump()
        #expect(pair.serverLog.events.first == "handshake")
        #expect(!pair.serverLog.events.contains("data-before-handshake"))
        #expect(pair.serverLog.bytes == Array("GET /owa/ HTTP/1.1\r\n\r\n".utf8))
        #expect(pair.clientLog.handshakeDone)
        _ = try? pair.client.finish()
        _ = try? pair.server.finish()
    }

    @Test func writePromisesCompleteWithTheCiphertextWrite() throws {
        let fixture = try Fixture()
        let pair = try Pair(fixture: fixture, clientContext: try fixture.client())
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try pair.pump()
        #expect(pair.clientLog.handshakeDone && pair.serverLog.handshakeDone)
        // Three writes, one flush: one ciphertext write, all three promises succeed.
        var futures: [EventLoopFuture<Void>] = []
        for part in ["HTTP/1.1 200 OK\r\n", "Content-Length: 2\r\n\r\n", "ok"] {
            futures.append(pair.server.write(ByteBuffer(string: part)))
        }
        let completions = EventLog()
        for future in futures { future.whenSuccess { completions.record(event: "written") } }
        #expect(completions.events.isEmpty, "nothing completes before flush")
        pair.server.flush()
        var records = 0
        while try pair.server.readOutbound(as: ByteBuffer.self) != nil { records += 1 }
        #expect(records == 1, "one coalesced ciphertext write per flush")
        for future in futures { try future.wait() }
        #expect(completions.events.count == 3)
        _ = try? pair.client.finish()
        _ = try? pair.server.finish()
    }

    @Test func randomBytesNeverCrashTheServer() throws {
        let fixture = try Fixture()
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let channel = EmbeddedChannel()
            let log = EventLog()
            try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: fixture.store))
            try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: log))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            // Half the rounds look like a TLS handshake record header so parsing goes deeper.
            var bytes = (0..<Int.random(in: 1...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 2 == 0 && bytes.count > 9 {
                let length = bytes.count - 5
                bytes.replaceSubrange(
                    0..<9,
                    with: [
                        0x16, 0x03, 0x01, UInt8(length >> 8), UInt8(length & 0xFF),
                        0x01, 0x00, UInt8((length - 4) >> 8), UInt8((length - 4) & 0xFF)
                    ])
            }
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            #expect(!log.handshakeDone)
            #expect(log.bytes.isEmpty)
            #expect(log.tlsErrors.allSatisfy { $0.kind == .handshake })
            _ = try? channel.finish()
        }
    }

    @Test func handshakeTimeoutFiresOnEmbeddedClock() throws {
        var policy = TLSPolicy.exchangeDefault
        policy.handshakeTimeout = .seconds(3)
        let fixture = try Fixture(policy: policy)
        let channel = EmbeddedChannel()
        let log = EventLog()
        try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: fixture.store))
        try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: log))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(log.tlsErrors.isEmpty)
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(log.tlsErrors.map(\.kind) == [.handshakeTimeout])
        #expect(log.tlsErrors.first?.message.contains("3 s") == true)
        #expect(!channel.isActive)
    }
}
