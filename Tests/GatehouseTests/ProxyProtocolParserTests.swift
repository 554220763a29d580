import Testing

@testable import Gatehouse

/// The PROXY protocol parser over bytes: v1 and v2 headers, incremental feeding, the bytes after a
/// header left alone, and every kind of bad input refused with its reason.
@Suite struct ProxyProtocolParserTests {
    static func v1(_ line: String) -> [UInt8] { Array(line.utf8) }

    /// A v2 header: signature, version 2 and `command`, `family` byte, the block, big-endian length.
    static func v2(command: UInt8 = 1, family: UInt8, block: [UInt8], lengthOverride: Int? = nil) -> [UInt8] {
        let length = lengthOverride ?? block.count
        return ProxyProtocolParser.v2Signature + [0x20 | command, family, UInt8(length >> 8), UInt8(length & 0xFF)] + block
    }

    static let ipv4Block: [UInt8] = [192, 0, 2, 7, 198, 51, 100, 1, 0xDC, 0x04, 0x01, 0xBB]  // :56324 → :443
    static let ipv6Block: [UInt8] =
        [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [0x42]  // 2001:db8::42
        + [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [0x01]  // 2001:db8::1
        + [0x30, 0x39, 0x01, 0xBB]  // :12345 → :443

    private func header(_ result: ProxyParseResult) throws -> (ProxyHeader, Int) {
        guard case .header(let header, let consumed) = result else {
            Issue.record("expected a header, got \(result)")
            throw ParseFailure()
        }
        return (header, consumed)
    }

    struct ParseFailure: Error {}

    // MARK: v1

    @Test func v1TCP4() throws {
        let line = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
        let (parsed, consumed) = try header(ProxyProtocolParser.parse(Self.v1(line)))
        #expect(consumed == line.utf8.count)
        #expect(parsed.version == .v1)
        #expect(parsed.source == .init(address: IPAddress("192.0.2.7")!, port: 56324))
        #expect(parsed.destination == .init(address: IPAddress("198.51.100.1")!, port: 443))
    }

    @Test func v1TCP6() throws {
        let (parsed, _) = try header(ProxyProtocolParser.parse(Self.v1("PROXY TCP6 2001:db8::42 2001:db8::1 0 65535\r\n")))
        #expect(parsed.source == .init(address: IPAddress("2001:db8::42")!, port: 0))
        #expect(parsed.destination?.port == 65535)
    }

    @Test func v1UnknownCarriesNoAddress() throws {
        for line in ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"] {
            let (parsed, consumed) = try header(ProxyProtocolParser.parse(Self.v1(line)))
            #expect(parsed.source == nil && consumed == line.utf8.count)
        }
    }

    @Test func v1BytesAfterTheHeaderAreNotConsumed() throws {
        let bytes = Self.v1("PROXY TCP4 10.1.2.3 10.0.0.1 1000 443\r\n") + [0x16, 0x03, 0x01, 0x02, 0x00]
        let (_, consumed) = try header(ProxyProtocolParser.parse(bytes))
        #expect(Array(bytes[consumed...]) == [0x16, 0x03, 0x01, 0x02, 0x00])
    }

    @Test func v1ByteAtATime() throws {
        let bytes = Self.v1("PROXY TCP4 10.1.2.3 10.0.0.1 1000 443\r\n")
        for end in 0..<bytes.count {
            #expect(ProxyProtocolParser.parse(Array(bytes[..<end])) == .needMore, "at \(end) bytes")
        }
        let (parsed, consumed) = try header(ProxyProtocolParser.parse(bytes))
        #expect(consumed == bytes.count && parsed.source?.port == 1000)
    }

    @Test func v1LongestLineIsAcceptedAndOneMoreByteIsNot() throws {
        let longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
        #expect(longest.utf8.count == 104)
        _ = try header(ProxyProtocolParser.parse(Self.v1(longest)))
        let padded = "PROXY UNKNOWN " + String(repeating: "x", count: 91) + "\r\n"  // 107 bytes
        #expect(padded.utf8.count == 107)
        _ = try header(ProxyProtocolParser.parse(Self.v1(padded)))
        let tooLong = "PROXY UNKNOWN " + String(repeating: "x", count: 92) + "\r\n"
        #expect(ProxyProtocolParser.parse(Self.v1(tooLong)) == .invalid(.tooLong))
        // Without a line end, 107 bytes are enough to know.
        #expect(ProxyProtocolParser.parse(Array(Self.v1(tooLong)[..<107])) == .invalid(.tooLong))
        // A CR as the 107th byte leaves no room for the LF: too long, whether the next byte is
        // there yet or not, and whatever it is (found by FuzzProxyProtocol: the reason used to
        // depend on how the bytes were split into reads).
        let crAtTheLimit = Array(Self.v1(tooLong)[..<107])
        for next: [UInt8] in [[], [0x0A], [0x8A], [0x41]] {
            #expect(ProxyProtocolParser.parse(crAtTheLimit + next) == .invalid(.tooLong), "next \(next)")
        }
    }

    @Test(arguments: [
        ("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", ProxyProtocolError.unknownProtocol),
        ("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", .unknownProtocol),
        ("PROXY \r\n", .unknownProtocol),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", .badFields),
        ("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", .badFields),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", .badFields),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", .badFields),
        ("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", .badAddress),
        ("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", .badAddress),
        ("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", .badAddress),
        ("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", .badAddress),
        ("PROXY TCP4 host 5.6.7.8 1 2\r\n", .badAddress),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", .badPort),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", .badPort),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", .badPort),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", .badPort),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", .badPort),
        ("PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n", .badPort),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", .badCharacter),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", .badCharacter),
        ("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", .badCharacter),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\u{0}\r\n", .badCharacter)
    ])
    func v1BadLines(line: String, reason: ProxyProtocolError) {
        #expect(ProxyProtocolParser.parse(Self.v1(line)) == .invalid(reason), "\(line.debugDescription)")
    }

    @Test func nonASCIIInAV1LineIsRefusedAtOnce() {
        #expect(ProxyProtocolParser.parse(Self.v1("PROXY TCP4 ") + [0xC3]) == .invalid(.badCharacter))
    }

    // MARK: signatures

    @Test func firstBytesDecideTheSignature() {
        #expect(ProxyProtocolParser.signature([]) == .undecided)
        #expect(ProxyProtocolParser.signature(Self.v1("PROX")) == .undecided)
        #expect(ProxyProtocolParser.signature(Self.v1("PROXY ")) == .v1)
        #expect(ProxyProtocolParser.signature(Self.v1("PROXY")) == .undecided)
        #expect(ProxyProtocolParser.signature(Self.v1("POST / HTTP/1.1")) == .none)
        #expect(ProxyProtocolParser.signature([0x16, 0x03, 0x01]) == .none)  // a TLS ClientHello
        #expect(ProxyProtocolParser.signature(Array(ProxyProtocolParser.v2Signature[..<11])) == .undecided)
        #expect(ProxyProtocolParser.signature(ProxyProtocolParser.v2Signature) == .v2)
        #expect(ProxyProtocolParser.signature(Array(ProxyProtocolParser.v2Signature[..<6]) + [0x00]) == .none)
        #expect(ProxyProtocolParser.parse([0x16, 0x03, 0x01]) == .invalid(.noSignature))
        #expect(ProxyProtocolParser.parse(Self.v1("GET / HTTP/1.1\r\n")) == .invalid(.noSignature))
    }

    // MARK: v2

    @Test func v2ProxyIPv4() throws {
        let bytes = Self.v2(family: 0x11, block: Self.ipv4Block)
        let (parsed, consumed) = try header(ProxyProtocolParser.parse(bytes))
        #expect(consumed == 28 && parsed.version == .v2)
        #expect(parsed.source == .init(address: IPAddress("192.0.2.7")!, port: 56324))
        #expect(parsed.destination == .init(address: IPAddress("198.51.100.1")!, port: 443))
    }

    @Test func v2ProxyIPv6() throws {
        let (parsed, consumed) = try header(ProxyProtocolParser.parse(Self.v2(family: 0x21, block: Self.ipv6Block)))
        #expect(consumed == 52)
        #expect(parsed.source == .init(address: IPAddress("2001:db8::42")!, port: 12345))
        #expect(parsed.destination == .init(address: IPAddress("2001:db8::1")!, port: 443))
    }

    @Test func v2ProxyUnixAndUnspecAndLocalCarryNoAddress() throws {
        let unix = Self.v2(family: 0x31, block: Array(repeating: 0x61, count: 216))
        let (unixHeader, unixConsumed) = try header(ProxyProtocolParser.parse(unix))
        #expect(unixHeader.source == nil && unixConsumed == 232)
        let (unspec, _) = try header(ProxyProtocolParser.parse(Self.v2(family: 0x00, block: [])))
        #expect(unspec.source == nil)
        // LOCAL: the balancer's own connection; the block (even an IPv4 one) is ignored.
        let (local, localConsumed) = try header(ProxyProtocolParser.parse(Self.v2(command: 0, family: 0x11, block: Self.ipv4Block)))
        #expect(local.source == nil && localConsumed == 28)
        let (localUnspec, _) = try header(ProxyProtocolParser.parse(Self.v2(command: 0, family: 0x00, block: [])))
        #expect(localUnspec.source == nil)
    }

    @Test func v2TLVsAreSkipped() throws {
        // ALPN "h2", authority "mail", a CRC32C, a NOOP with no value.
        let tlvs: [UInt8] =
            [0x01, 0x00, 0x02, 0x68, 0x32] + [0x02, 0x00, 0x04] + Array("mail".utf8)
            + [0x03, 0x00, 0x04, 1, 2, 3, 4] + [0x04, 0x00, 0x00]
        let bytes = Self.v2(family: 0x11, block: Self.ipv4Block + tlvs) + [0x16, 0x03]
        let (parsed, consumed) = try header(ProxyProtocolParser.parse(bytes))
        #expect(parsed.source?.address == IPAddress("192.0.2.7"))
        #expect(Array(bytes[consumed...]) == [0x16, 0x03])
    }

    @Test func v2ByteAtATime() throws {
        let bytes = Self.v2(family: 0x21, block: Self.ipv6Block + [0xEE, 0x00, 0x01, 0xFF])
        for end in 0..<bytes.count {
            #expect(ProxyProtocolParser.parse(Array(bytes[..<end])) == .needMore, "at \(end) bytes")
        }
        let (parsed, consumed) = try header(ProxyProtocolParser.parse(bytes + [0x16]))
        #expect(consumed == bytes.count && parsed.source?.port == 12345)
    }

    @Test func v2BadInput() {
        let sig = ProxyProtocolParser.v2Signature
        func parse(_ bytes: [UInt8]) -> ProxyParseResult { ProxyProtocolParser.parse(bytes) }
        #expect(parse(sig + [0x11]) == .invalid(.badVersion))  // version 1 in the binary form
        #expect(parse(sig + [0x31]) == .invalid(.badVersion))
        #expect(parse(sig + [0x22]) == .invalid(.unknownCommand))
        #expect(parse(sig + [0x2F]) == .invalid(.unknownCommand))
        #expect(parse(sig + [0x21, 0x41]) == .invalid(.unknownFamily))
        #expect(parse(sig + [0x21, 0xF1]) == .invalid(.unknownFamily))
        #expect(parse(sig + [0x21, 0x12]) == .invalid(.unsupportedTransport))  // UDP over IPv4
        #expect(parse(sig + [0x21, 0x10]) == .invalid(.unsupportedTransport))
        #expect(parse(sig + [0x21, 0x13]) == .invalid(.unsupportedTransport))
        #expect(parse(Self.v2(family: 0x11, block: Array(Self.ipv4Block[..<11]))) == .invalid(.shortAddressBlock))
        #expect(parse(Self.v2(family: 0x21, block: Self.ipv4Block)) == .invalid(.shortAddressBlock))
        #expect(parse(Self.v2(family: 0x31, block: Array(repeating: 0, count: 215))) == .invalid(.shortAddressBlock))
        // TLVs that do not fit: a length past the end, a truncated TLV header.
        #expect(parse(Self.v2(family: 0x11, block: Self.ipv4Block + [0x01, 0x00, 0x05, 0x68])) == .invalid(.badTLV))
        #expect(parse(Self.v2(family: 0x11, block: Self.ipv4Block + [0x01, 0x00])) == .invalid(.badTLV))
        // The length field is bounded before any of the block is awaited.
        #expect(parse(Self.v2(family: 0x11, block: [], lengthOverride: 0xFFFF)) == .invalid(.tooLong))
        #expect(
            ProxyProtocolParser.parse(Self.v2(family: 0x11, block: Self.ipv4Block), v2MaximumLength: 27) == .invalid(.tooLong))
        // Truncated: everything short of the length field's promise waits for more.
        #expect(parse(Array(Self.v2(family: 0x11, block: Self.ipv4Block).dropLast())) == .needMore)
    }

    /// Every prefix and every one-byte corruption of valid headers gives an answer without trapping
    /// (the property a fuzzer checks, over a small deterministic space).
    @Test func corruptedHeadersNeverTrap() {
        let samples = [
            Self.v1("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"),
            Self.v2(family: 0x11, block: Self.ipv4Block + [0x01, 0x00, 0x01, 0x68]),
            Self.v2(family: 0x21, block: Self.ipv6Block)
        ]
        var headers = 0
        for sample in samples {
            for index in sample.indices {
                for value: UInt8 in [0x00, 0x0A, 0x0D, 0x20, 0x7F, 0xFF] {
                    var corrupted = sample
                    corrupted[index] = value
                    for end in [index + 1, corrupted.count] {
                        if case .header(_, let consumed) = ProxyProtocolParser.parse(Array(corrupted[..<end])) {
                            #expect(consumed > 0 && consumed <= end)
                            headers += 1
                        }
                    }
                }
            }
        }
        // Some corruptions stay valid (a changed port digit, a changed address byte), most do not.
        #expect(headers > 0 && headers < samples.map(\.count).reduce(0, +) * 12)
    }
}
