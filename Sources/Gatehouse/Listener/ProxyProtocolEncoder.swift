/// Writes a PROXY protocol version 2 header (HAProxy's binary form) towards a backend, so a
/// pass-through backend learns the client's address although the TCP connection comes from
/// Gatehouse. A pure function; `ProxyProtocolParser` reads what it writes (tested round trip).
public enum ProxyProtocolEncoder {
    /// The header for a TCP connection from `source` to `destination`. Both IPv4: family INET;
    /// otherwise INET6, with an IPv4 address written in its mapped form (`::ffff:a.b.c.d`). Without
    /// both addresses (a Unix-socket peer): a LOCAL header, which tells the backend to use the
    /// connection's own addresses.
    public static func v2(source: ProxyHeader.Endpoint?, destination: ProxyHeader.Endpoint?) -> [UInt8] {
        var bytes = ProxyProtocolParser.v2Signature
        guard let source, let destination else {
            // Version 2, command LOCAL; family UNSPEC; no address block.
            bytes += [0x20, 0x00, 0x00, 0x00]
            return bytes
        }
        let from = source.address.unmapped
        let to = destination.address.unmapped
        if from.isIPv4 && to.isIPv4 {
            // Version 2 + PROXY, INET + STREAM, 12 bytes of addresses and ports.
            bytes += [0x21, 0x11, 0x00, 12]
            append(ipv4: from, to: &bytes)
            append(ipv4: to, to: &bytes)
        } else {
            bytes += [0x21, 0x21, 0x00, 36]
            append(ipv6: from, to: &bytes)
            append(ipv6: to, to: &bytes)
        }
        bytes += [UInt8(source.port >> 8 & 0xFF), UInt8(source.port & 0xFF)]
        bytes += [UInt8(destination.port >> 8 & 0xFF), UInt8(destination.port & 0xFF)]
        return bytes
    }

    private static func append(ipv4 address: IPAddress, to bytes: inout [UInt8]) {
        guard case .v4(let bits) = address.storage else { return }
        bytes += [UInt8(bits >> 24), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits & 0xFF)]
    }

    private static func append(ipv6 address: IPAddress, to bytes: inout [UInt8]) {
        let (high, low): (UInt64, UInt64)
        switch address.storage {
        case .v4(let bits): (high, low) = (0, 0xFFFF_0000_0000 | UInt64(bits))
        case .v6(let h, let l): (high, low) = (h, l)
        }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(high >> UInt64(shift) & 0xFF)) }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(low >> UInt64(shift) & 0xFF)) }
    }
}
