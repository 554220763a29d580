/// Parsing of textual IP addresses: dotted-quad IPv4 and RFC 4291 2.2 IPv6 (with `::` and an
/// optional trailing dotted quad). Zone identifiers (`%eth0`) are not accepted: they have no
/// meaning for a client address or an admin network.
extension IPAddress {
    /// Parses `192.0.2.1`, `2001:db8::1` or `::ffff:192.0.2.1`; nil when `text` is not an address.
    public init?(_ text: String) {
        var text = text
        let parsed: IPAddress? = text.withUTF8 { bytes in
            if bytes.contains(UInt8(ascii: ":")) {
                guard let (high, low) = Self.parseIPv6(bytes) else { return nil }
                return IPAddress(ipv6High: high, low: low)
            }
            guard let bits = Self.parseIPv4(bytes[...]) else { return nil }
            return IPAddress(ipv4: bits)
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses exactly four decimal octets (0-255, no leading zeros, which some parsers read as octal).
    static func parseIPv4(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var result: UInt32 = 0
        var octets = 0
        var value: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0 else { return nil }
                result = result << 8 | value
                octets += 1
                value = 0
                digits = 0
                continue
            }
            guard let digit = ASCII.hexValue(byte), digit < 10 else { return nil }
            if digits == 1 && leadingZero { return nil }
            if digits == 0 { leadingZero = digit == 0 }
            value = value * 10 + UInt32(digit)
            digits += 1
            guard value <= 255, digits <= 3 else { return nil }
        }
        guard digits > 0, octets == 3 else { return nil }
        return result << 8 | value
    }

    /// Parses IPv6 text into its two 64-bit halves.
    static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        // Up to eight 16-bit groups; `gap` is where `::` stands, filled with zeros at the end.
        var groups = [UInt16](repeating: 0, count: 8)
        var count = 0
        var gap: Int? = nil
        var index = 0
        let end = bytes.count
        if end >= 2, bytes[0] == UInt8(ascii: ":") {
            guard bytes[1] == UInt8(ascii: ":") else { return nil }
            gap = 0
            index = 2
        }
        while index < end {
            // A trailing dotted quad stands for the last two groups.
            var groupEnd = index
            while groupEnd < end, bytes[groupEnd] != UInt8(ascii: ":") { groupEnd += 1 }
            let piece = bytes[index..<groupEnd]
            if piece.contains(UInt8(ascii: ".")) {
                guard groupEnd == end, count <= 6, let v4 = parseIPv4(piece) else { return nil }
                groups[count] = UInt16(v4 >> 16)
                groups[count + 1] = UInt16(truncatingIfNeeded: v4)
                count += 2
                index = end
                break
            }
            guard !piece.isEmpty, piece.count <= 4, count < 8 else { return nil }
            var value: UInt16 = 0
            for byte in piece {
                guard let digit = ASCII.hexValue(byte) else { return nil }
                value = value << 4 | UInt16(digit)
            }
            groups[count] = value
            count += 1
            index = groupEnd
            if index < end {
                // Skip the ':'; a second one marks the (single) `::`.
                index += 1
                if index < end, bytes[index] == UInt8(ascii: ":") {
                    guard gap == nil else { return nil }
                    gap = count
                    index += 1
                } else if index == end {
                    return nil  // a trailing single ':'
                }
            }
        }
        if let gap {
            guard count < 8 else { return nil }
            let tail = count - gap
            let shift = 8 - count
            for offset in stride(from: tail - 1, through: 0, by: -1) {
                groups[gap + shift + offset] = groups[gap + offset]
            }
            for position in gap..<(gap + shift) { groups[position] = 0 }
        } else {
            guard count == 8 else { return nil }
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for position in 0..<4 { high = high << 16 | UInt64(groups[position]) }
        for position in 4..<8 { low = low << 16 | UInt64(groups[position]) }
        return (high, low)
    }
}
