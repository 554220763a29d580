/// Version 2: the 12-byte signature, a version/command byte, a family/transport byte, a big-endian
/// length, then that many bytes: the address block of the family and TLVs (skipped, but each must
/// fit). LOCAL (the balancer's own health check) and UNSPEC/UNIX families carry no client IP.
extension ProxyProtocolParser {
    /// The signature, the version/command and family bytes and the length field.
    static let v2FixedLength = 16

    static func parseV2(_ bytes: UnsafeRawBufferPointer, maximumLength: Int) -> ProxyParseResult {
        // Each fixed byte is checked as soon as it arrives, so garbage fails early.
        if bytes.count > 12 {
            guard bytes[12] >> 4 == 2 else { return .invalid(.badVersion) }
            guard bytes[12] & 0x0F <= 1 else { return .invalid(.unknownCommand) }
        }
        if bytes.count > 13, bytes[12] & 0x0F == 1 {
            guard bytes[13] >> 4 <= 3 else { return .invalid(.unknownFamily) }
            guard bytes[13] & 0x0F == 1 || bytes[13] == 0x00 else { return .invalid(.unsupportedTransport) }
        }
        guard bytes.count >= v2FixedLength else { return .needMore }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        let total = v2FixedLength + length
        guard total <= maximumLength else { return .invalid(.tooLong) }
        let isLocal = bytes[12] & 0x0F == 0
        let family = bytes[13] >> 4
        // Address block sizes: INET 4+4+2+2, INET6 16+16+2+2, UNIX 108+108.
        let addressLength = isLocal ? 0 : [0, 12, 36, 216][Int(family)]
        guard length >= addressLength else { return .invalid(.shortAddressBlock) }
        guard bytes.count >= total else { return .needMore }
        // After a known address block come TLVs; LOCAL and UNSPEC blocks are discarded unread.
        if addressLength > 0, !tlvsFit(bytes, from: v2FixedLength + addressLength, to: total) {
            return .invalid(.badTLV)
        }
        var header = ProxyHeader(version: .v2)
        switch isLocal ? 0 : family {
        case 1:
            header.source = .init(address: IPAddress(ipv4: uint32(bytes, 16)), port: port(bytes, 24))
            header.destination = .init(address: IPAddress(ipv4: uint32(bytes, 20)), port: port(bytes, 26))
        case 2:
            header.source = .init(address: ipv6(bytes, 16), port: port(bytes, 48))
            header.destination = .init(address: ipv6(bytes, 32), port: port(bytes, 50))
        default:
            break  // LOCAL, UNSPEC, UNIX: the connection's own peer stands
        }
        return .header(header, consumed: total)
    }

    /// Whether the TLVs between `start` and `end` each fit: type (1), length (2, big-endian), value.
    private static func tlvsFit(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Bool {
        var offset = start
        while offset < end {
            guard end - offset >= 3 else { return false }
            let length = Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            offset += 3 + length
        }
        return offset == end
    }

    private static func uint32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        (offset..<offset + 4).reduce(0) { $0 << 8 | UInt32(bytes[$1]) }
    }

    private static func port(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> Int {
        Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
    }

    private static func ipv6(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> IPAddress {
        let high = (offset..<offset + 8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[$1]) }
        let low = (offset + 8..<offset + 16).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[$1]) }
        return IPAddress(ipv6High: high, low: low)
    }
}
