/// Version 1: one ASCII line, `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n`, at most 107 bytes.
/// Strict: single spaces, addresses of the family the protocol names (no leading zeros in IPv4
/// octets), decimal ports 0-65535 without leading zeros, nothing after `UNKNOWN` but optional text.
extension ProxyProtocolParser {
    static func parseV1(_ bytes: UnsafeRawBufferPointer) -> ProxyParseResult {
        let limit = min(bytes.count, v1MaximumLength)
        var end: Int?
        for index in 0..<limit {
            let byte = bytes[index]
            if byte == 0x0D {
                // No room left for the LF: too long, whatever follows (decided before looking at the
                // next byte, so the reason does not depend on how the bytes were split into reads).
                guard index + 1 < v1MaximumLength else { return .invalid(.tooLong) }
                guard index + 1 < bytes.count else { break }  // the LF may come in the next read
                guard bytes[index + 1] == 0x0A else { return .invalid(.badCharacter) }
                end = index
                break
            }
            // Printable ASCII only: no LF without CR, no NUL, no bytes above 0x7E.
            guard byte >= 0x20, byte <= 0x7E else { return .invalid(.badCharacter) }
        }
        guard let end else {
            return bytes.count >= v1MaximumLength ? .invalid(.tooLong) : .needMore
        }
        let line = UnsafeRawBufferPointer(rebasing: bytes[v1Signature.count..<end])
        let fields = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard let proto = fields.first else { return .invalid(.badFields) }
        switch String(decoding: proto, as: UTF8.self) {
        case "UNKNOWN":
            // The balancer could not tell (or relays something else): the rest of the line is ignored.
            return .header(ProxyHeader(version: .v1), consumed: end + 2)
        case "TCP4":
            return v1Addresses(fields, ipv4: true, consumed: end + 2)
        case "TCP6":
            return v1Addresses(fields, ipv4: false, consumed: end + 2)
        default:
            return .invalid(.unknownProtocol)
        }
    }

    private static func v1Addresses(
        _ fields: [Slice<UnsafeRawBufferPointer>], ipv4: Bool, consumed: Int
    ) -> ProxyParseResult {
        guard fields.count == 5 else { return .invalid(.badFields) }
        guard let source = IPAddress(String(decoding: fields[1], as: UTF8.self)),
            let destination = IPAddress(String(decoding: fields[2], as: UTF8.self)),
            source.isIPv4 == ipv4, destination.isIPv4 == ipv4
        else { return .invalid(.badAddress) }
        guard let sourcePort = v1Port(fields[3]), let destinationPort = v1Port(fields[4]) else {
            return .invalid(.badPort)
        }
        let header = ProxyHeader(
            version: .v1, source: .init(address: source, port: sourcePort),
            destination: .init(address: destination, port: destinationPort))
        return .header(header, consumed: consumed)
    }

    /// A decimal port, 0-65535, without sign or leading zeros.
    private static func v1Port(_ field: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard !field.isEmpty, field.count <= 5, field.count == 1 || field.first != 0x30 else { return nil }
        var value = 0
        for byte in field {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value <= 65535 ? value : nil
    }
}
