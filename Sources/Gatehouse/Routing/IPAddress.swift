import NIOCore

/// An IPv4 or IPv6 address as a plain value (no sockaddr, no allocation), used for the client address
/// in deny rules and X-Forwarded-For.
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack listener reports for IPv4
/// clients) stay IPv6 values, but `IPNetwork.contains` treats them as the IPv4 address they carry,
/// so an admin network written as `192.0.2.0/24` matches a client accepted on `[::]`.
public struct IPAddress: Sendable, Hashable {
    /// The address family and bits: IPv4 as a host-order `UInt32`, IPv6 as two host-order halves.
    public enum Storage: Sendable, Hashable {
        case v4(UInt32)
        case v6(high: UInt64, low: UInt64)
    }

    /// The family and bits of this address.
    public var storage: Storage

    /// An IPv4 address from its 32 bits in host order (`0xC0000201` is 192.0.2.1).
    public init(ipv4 bits: UInt32) { storage = .v4(bits) }

    /// An IPv6 address from its 128 bits as two host-order halves.
    public init(ipv6High high: UInt64, low: UInt64) { storage = .v6(high: high, low: low) }

    /// Whether this is an IPv4 address (not an IPv4-mapped IPv6 one).
    public var isIPv4: Bool {
        if case .v4 = storage { return true }
        return false
    }

    /// The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) carries; `self` otherwise.
    public var unmapped: IPAddress {
        if case .v6(let high, let low) = storage, high == 0, low >> 32 == 0xFFFF {
            return IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
        }
        return self
    }
}

extension IPAddress {
    /// The address of a NIO socket address, or nil for Unix domain sockets.
    ///
    /// Reads the raw `sockaddr` bytes rather than `SocketAddress.ipAddress`, which would format and
    /// re-parse a String on every accepted connection.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            // sin_addr is in network byte order.
            self.init(ipv4: UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            let (high, low) = withUnsafeBytes(of: &raw) { bytes -> (UInt64, UInt64) in
                var high: UInt64 = 0
                var low: UInt64 = 0
                for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
                for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
                return (high, low)
            }
            self.init(ipv6High: high, low: low)
        case .unixDomainSocket:
            return nil
        }
    }
}
