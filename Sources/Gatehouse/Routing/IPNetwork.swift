/// A CIDR network such as `10.0.0.0/8` or `2001:db8::/32`, for admin-network checks.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network address (host bits zero).
    public let address: IPAddress
    /// The prefix length: 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int

    /// Why a network text was refused, for configuration errors.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The text that was refused.
        public var text: String
        /// What is wrong with it and how to fix it.
        public var reason: String
        public var description: String { "invalid network '\(text)': \(reason)" }
    }

    /// Parses `a.b.c.d/n`, `x:y::/n`, or a bare address (a single-host network).
    /// Refuses host bits below the prefix (`10.0.0.1/8`), which usually is a typo for a different
    /// network and would otherwise silently widen or narrow the admin network.
    public init(_ text: String) throws(ParseError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else {
            throw ParseError(text: text, reason: "'\(parts[0])' is not an IPv4 or IPv6 address")
        }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), parsed >= 0, parsed <= maximum,
                parts[1].allSatisfy({ $0.isASCII && $0.isNumber })
            else {
                throw ParseError(text: text, reason: "the prefix length must be a number from 0 to \(maximum)")
            }
            length = parsed
        }
        guard Self.masked(address, length) == address else {
            throw ParseError(
                text: text,
                reason: "host bits are set below /\(length); write the network address \(Self.masked(address, length))/\(length)")
        }
        self.address = address
        self.prefixLength = length
    }

    /// Whether `candidate` lies in this network. IPv4-mapped IPv6 clients match IPv4 networks.
    public func contains(_ candidate: IPAddress) -> Bool {
        let candidate = address.isIPv4 ? candidate.unmapped : candidate
        switch (address.storage, candidate.storage) {
        case (.v4, .v4), (.v6, .v6):
            return Self.masked(candidate, prefixLength) == address
        default:
            return false
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// `address` with every bit after the first `length` cleared.
    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address.storage {
        case .v4(let bits):
            let mask: UInt32 = length == 0 ? 0 : ~0 << UInt32(32 - length)
            return IPAddress(ipv4: bits & mask)
        case .v6(let high, let low):
            let highMask: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~0 << UInt64(64 - length))
            let lowMask: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~0 << UInt64(128 - length))
            return IPAddress(ipv6High: high & highMask, low: low & lowMask)
        }
    }
}

extension Sequence<IPNetwork> {
    /// Whether any network in the sequence contains `address`.
    public func containsAddress(_ address: IPAddress) -> Bool {
        contains { $0.contains(address) }
    }
}
