import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Gatehouse

/// `ProxyProtocolGate` (who may send a header, and what happens without one) and
/// `ProxyProtocolHandler` on an embedded channel: the client address recorded, the bytes after the
/// header passed on unchanged, bad input and the header timeout closing the connection.
@Suite struct ProxyProtocolHandlerTests {
    static let tcp4 = Array("PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n".utf8)
    static let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]

    // MARK: the gate

    @Test func trustedPeerWithAHeader() {
        let verdict = ProxyProtocolGate.verdict(Self.tcp4 + Self.clientHello, trusted: true, required: true)
        guard case .header(let header, let consumed) = verdict else {
            Issue.record("\(verdict)")
            return
        }
        #expect(header.source?.address == IPAddress("192.0.2.7") && consumed == Self.tcp4.count)
    }

    @Test func trustedPeerWithoutAHeader() {
        guard case .refuse(let reason) = ProxyProtocolGate.verdict(Self.clientHello, trusted: true, required: true) else {
            Issue.record("a missing header must be refused when required")
            return
        }
        #expect(reason.contains("no PROXY protocol header"))
        #expect(ProxyProtocolGate.verdict(Self.clientHello, trusted: true, required: false) == .direct)
    }

    @Test func untrustedPeerIsADirectClientAndMayNotSendAHeader() {
        #expect(ProxyProtocolGate.verdict(Self.clientHello, trusted: false, required: true) == .direct)
        #expect(ProxyProtocolGate.verdict(Array("GET / HTTP/1.1\r\n".utf8), trusted: false, required: true) == .direct)
        for bytes in [Array(Self.tcp4[..<6]), ProxyProtocolParser.v2Signature] {
            guard case .refuse(let reason) = ProxyProtocolGate.verdict(bytes, trusted: false, required: false) else {
                Issue.record("a header from an untrusted peer must be refused")
                continue
            }
            #expect(reason.contains("outside trusted_sources"))
        }
        // Too few bytes to tell waits, whoever the peer is.
        #expect(ProxyProtocolGate.verdict(Array("PRO".utf8), trusted: false, required: true) == .needMore)
        #expect(ProxyProtocolGate.verdict(Array(Self.tcp4[..<20]), trusted: true, required: true) == .needMore)
    }

    @Test func trustedPeerWithABadHeader() {
        let verdict = ProxyProtocolGate.verdict(Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n".utf8), trusted: true, required: true)
        #expect(verdict == .refuse("bad PROXY protocol header: invalid port"))
    }

    // MARK: the handler

    private func channel(
        peer: String, trustedSources: [String] = ["10.0.0.0/8"], required: Bool = true
    ) throws -> (EmbeddedChannel, ConnectionClientAddress) {
        let channel = EmbeddedChannel()
        channel.remoteAddress = try SocketAddress(ipAddress: peer, port: 40000)
        let client = ConnectionClientAddress(peer: channel.remoteAddress)
        let settings = ProxyProtocolConfiguration(
            trustedSources: try trustedSources.map { try IPNetwork($0) }, required: required, headerTimeout: .seconds(5))
        try channel.pipeline.syncOperations.addHandler(
            ProxyProtocolHandler(settings: settings, client: client, listener: "https", logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 443)).wait()
        return (channel, client)
    }

    private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test func headerAndClientHelloInOneRead() throws {
        let (channel, client) = try channel(peer: "10.1.1.1")
        try channel.writeInbound(buffer(Self.tcp4 + Self.clientHello))
        #expect(client.address == IPAddress("192.0.2.7"))
        let passed = try channel.readInbound(as: ByteBuffer.self)
        #expect(passed.map { Array($0.readableBytesView) } == Self.clientHello)
        #expect(channel.isActive)
        // The handler has left: later bytes go straight through.
        try channel.writeInbound(buffer([9, 9]))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { Array($0.readableBytesView) } == [9, 9])
        _ = try? channel.finish()
    }

    @Test func headerByteAtATime() throws {
        let (channel, client) = try channel(peer: "10.1.1.1")
        let bytes = ProxyProtocolParserTests.v2(family: 0x11, block: ProxyProtocolParserTests.ipv4Block) + [0x16]
        for byte in bytes.dropLast() {
            try channel.writeInbound(buffer([byte]))
            #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        }
        #expect(client.address == IPAddress("192.0.2.7"))
        try channel.writeInbound(buffer([0x16]))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { Array($0.readableBytesView) } == [0x16])
        _ = try? channel.finish()
    }

    @Test func localCommandKeepsThePeerAddress() throws {
        let (channel, client) = try channel(peer: "10.1.1.1")
        try channel.writeInbound(buffer(ProxyProtocolParserTests.v2(command: 0, family: 0x00, block: [])))
        #expect(client.address == IPAddress("10.1.1.1") && channel.isActive)
        _ = try? channel.finish()
    }

    @Test func badHeaderClosesWithoutPassingBytes() throws {
        let (channel, client) = try channel(peer: "10.1.1.1")
        try channel.writeInbound(buffer(Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".utf8) + Self.clientHello))
        #expect(!channel.isActive)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(client.address == IPAddress("10.1.1.1"))
    }

    @Test func untrustedHeaderIsRefusedAndDirectClientsPass() throws {
        let (refused, refusedClient) = try channel(peer: "192.0.2.99")
        try refused.writeInbound(buffer(Self.tcp4))
        #expect(!refused.isActive && refusedClient.address == IPAddress("192.0.2.99"))
        #expect(try refused.readInbound(as: ByteBuffer.self) == nil)

        let (direct, directClient) = try channel(peer: "192.0.2.99")
        try direct.writeInbound(buffer(Self.clientHello))
        #expect(direct.isActive && directClient.address == IPAddress("192.0.2.99"))
        #expect(try direct.readInbound(as: ByteBuffer.self).map { Array($0.readableBytesView) } == Self.clientHello)
        _ = try? direct.finish()
    }

    @Test func headerTimeoutCloses() throws {
        let (channel, _) = try channel(peer: "10.1.1.1")
        try channel.writeInbound(buffer(Array(Self.tcp4[..<10])))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4_999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test func noTimeoutOnceTheHeaderIsIn() throws {
        let (channel, _) = try channel(peer: "10.1.1.1")
        try channel.writeInbound(buffer(Self.tcp4))
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        _ = try? channel.finish()
    }
}
