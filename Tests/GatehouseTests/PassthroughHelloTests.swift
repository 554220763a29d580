import GatehouseTLS
import Testing

@testable import Gatehouse

/// Building blocks of TLS pass-through: the SNI read from raw ClientHello bytes (whole, split over
/// reads and records, without SNI, garbage, oversize) and the route choice by host name.
@Suite struct PassthroughHelloTests {
    /// A ClientHello handshake message (type 1) with `serverName` (nil: no SNI extension) and a
    /// padding extension of `padding` bytes.
    static func handshake(serverName: String?, padding: Int = 0) -> [UInt8] {
        var extensions: [UInt8] = []
        if let serverName {
            let name = Array(serverName.utf8)
            let entry: [UInt8] = [0x00] + be16(name.count) + name
            let list = be16(entry.count) + entry
            extensions += [0x00, 0x00] + be16(list.count) + list
        }
        // supported_versions (TLS 1.3), so the SNI is not the only extension.
        extensions += [0x00, 0x2B, 0x00, 0x03, 0x02, 0x03, 0x04]
        if padding > 0 { extensions += [0x00, 0x15] + be16(padding) + Array(repeating: 0, count: padding) }
        var body: [UInt8] = [0x03, 0x03] + Array(repeating: 0x5A, count: 32)
        body += [32] + Array(repeating: 0x11, count: 32)  // session id
        body += [0x00, 0x04, 0x13, 0x01, 0x13, 0x02]  // two suites
        body += [0x01, 0x00]  // null compression
        body += be16(extensions.count) + extensions
        return [0x01, UInt8(body.count >> 16), UInt8(body.count >> 8 & 0xFF), UInt8(body.count & 0xFF)] + body
    }

    /// `message` in TLS records of at most `recordSize` bytes each.
    static func records(_ message: [UInt8], recordSize: Int = 16384) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        while offset < message.count {
            let chunk = message[offset..<min(message.count, offset + recordSize)]
            out += [0x16, 0x03, 0x01] + be16(chunk.count) + chunk
            offset += chunk.count
        }
        return out
    }

    static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    @Test func wholeHelloGivesTheServerName() {
        let bytes = Self.records(Self.handshake(serverName: "OWA.Contoso.lab"))
        #expect(ClientHelloPeek.read(bytes) == .serverName("OWA.Contoso.lab"))
        // Trailing bytes (the client's next records) change nothing.
        #expect(ClientHelloPeek.read(bytes + [0x14, 0x03, 0x03, 0x00, 0x01, 0x01]) == .serverName("OWA.Contoso.lab"))
    }

    @Test func everyPrefixNeedsMoreAndEverySplitReadsTheSame() {
        let bytes = Self.records(Self.handshake(serverName: "mail.contoso.lab", padding: 300))
        for cut in 0..<bytes.count {
            #expect(ClientHelloPeek.read(Array(bytes[..<cut])) == .needMore, "prefix of \(cut) bytes")
        }
        #expect(ClientHelloPeek.read(bytes) == .serverName("mail.contoso.lab"))
    }

    @Test func helloSplitOverSeveralRecords() {
        let message = Self.handshake(serverName: "autodiscover.contoso.lab", padding: 500)
        for size in [1, 3, 7, 64, 200] {
            let bytes = Self.records(message, recordSize: size)
            #expect(ClientHelloPeek.read(bytes) == .serverName("autodiscover.contoso.lab"), "records of \(size)")
            #expect(ClientHelloPeek.read(Array(bytes.dropLast())) == .needMore)
        }
    }

    @Test func helloWithoutSNI() {
        #expect(ClientHelloPeek.read(Self.records(Self.handshake(serverName: nil))) == .noServerName)
    }

    @Test func garbageIsInvalidOnItsFirstBytes() {
        guard case .invalid = ClientHelloPeek.read(Array("GET / HTTP/1.1\r\n".utf8)) else {
            Issue.record("HTTP accepted as TLS")
            return
        }
        guard case .invalid = ClientHelloPeek.read([0x16, 0x07]) else {
            Issue.record("record version 7 accepted")
            return
        }
        // A handshake record whose message is not a ClientHello (a ServerHello, type 2).
        var serverHello = Self.handshake(serverName: "x.contoso.lab")
        serverHello[0] = 2
        guard case .invalid = ClientHelloPeek.read(Self.records(serverHello)) else {
            Issue.record("ServerHello accepted")
            return
        }
        // An SNI whose name is not a host name.
        guard case .invalid = ClientHelloPeek.read(Self.records(Self.handshake(serverName: "a b"))) else {
            Issue.record("space in SNI accepted")
            return
        }
        // An extensions length that disagrees with the message.
        var bad = Self.handshake(serverName: "x.contoso.lab")
        bad[4 + 2 + 32 + 33 + 6 + 2] ^= 0x01
        guard case .invalid = ClientHelloPeek.read(Self.records(bad)) else {
            Issue.record("bad extensions length accepted")
            return
        }
    }

    @Test func oversizeHelloIsRefusedWithoutWaiting() {
        let big = Self.records(Self.handshake(serverName: "mail.contoso.lab", padding: 20_000))
        // Known as too large from the handshake header alone, long before the bytes are all in.
        #expect(ClientHelloPeek.read(Array(big.prefix(64))) == .tooLarge)
        #expect(ClientHelloPeek.read(big) == .tooLarge)
        // A small cap refuses a normal hello too.
        let normal = Self.records(Self.handshake(serverName: "mail.contoso.lab", padding: 300))
        #expect(ClientHelloPeek.read(normal, maximumBytes: 200) == .tooLarge)
    }

    // MARK: route choice

    static func plan(withDefault: Bool) throws -> PassthroughPlan {
        let settings = PassthroughConfiguration(
            routes: [
                PassthroughRoute(hosts: ["owa.contoso.lab", "*.contoso.lab"], pool: "mailbox", sendProxyProtocol: true),
                PassthroughRoute(hosts: ["legacy.contoso.lab"], pool: "legacy")
            ],
            defaultRoute: withDefault ? PassthroughRoute(hosts: [], pool: "legacy") : nil)
        let pools = ["legacy", "mailbox"]
        return try PassthroughPlan(settings, poolIndex: { pools.firstIndex(of: $0) })
    }

    @Test func exactBeatsWildcardAndWildcardCoversOneLabel() throws {
        let plan = try Self.plan(withDefault: false)
        let mailbox = PassthroughPlan.Target(poolIndex: 1, poolName: "mailbox", sendProxyProtocol: true)
        let legacy = PassthroughPlan.Target(poolIndex: 0, poolName: "legacy", sendProxyProtocol: false)
        #expect(plan.decide(.serverName("owa.contoso.lab")) == .forward(mailbox, matched: true))
        #expect(plan.decide(.serverName("EWS.CONTOSO.LAB.")) == .forward(mailbox, matched: true))
        // The exact name wins over the wildcard that also covers it.
        #expect(plan.decide(.serverName("legacy.contoso.lab")) == .forward(legacy, matched: true))
        // A wildcard covers exactly one label, never the parent.
        guard case .close = plan.decide(.serverName("a.b.contoso.lab")),
            case .close = plan.decide(.serverName("contoso.lab"))
        else {
            Issue.record("wildcard matched more than one label")
            return
        }
    }

    @Test func unmatchedGoesToTheDefaultOrIsClosed() throws {
        let legacy = PassthroughPlan.Target(poolIndex: 0, poolName: "legacy", sendProxyProtocol: false)
        let withDefault = try Self.plan(withDefault: true)
        let without = try Self.plan(withDefault: false)
        for hello: ClientHelloPeek.Result in [.serverName("www.fabrikam.com"), .noServerName, .invalid("x"), .tooLarge] {
            #expect(withDefault.decide(hello) == .forward(legacy, matched: false))
            guard case .close = without.decide(hello) else {
                Issue.record("\(hello) not closed without a default")
                continue
            }
        }
    }

    @Test func serverNameTableRefusesBadPatterns() {
        var table = ServerNameTable<Int>()
        #expect(throws: ServerNameTable<Int>.PatternError.invalid) { try table.add("*.com", value: 1) }
        #expect(throws: ServerNameTable<Int>.PatternError.invalid) { try table.add("a.*.contoso.lab", value: 1) }
        #expect(throws: ServerNameTable<Int>.PatternError.invalid) { try table.add("192.0.2.1", value: 1) }
        #expect(throws: Never.self) { try table.add("Mail.Contoso.lab", value: 1) }
        #expect(throws: ServerNameTable<Int>.PatternError.duplicate) { try table.add("mail.contoso.lab", value: 2) }
        #expect(table.lookup("mail.contoso.lab") == 1)
    }
}
