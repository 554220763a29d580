/// Text form of an address: dotted quad for IPv4, RFC 5952 for IPv6 (lower case, longest run of
/// two or more zero groups as `::`, first such run on a tie). Used in X-Forwarded-For and logs.
extension IPAddress: CustomStringConvertible {
    public var description: String {
        switch storage {
        case .v4(let bits):
            return "\(bits >> 24).\(bits >> 16 & 0xFF).\(bits >> 8 & 0xFF).\(bits & 0xFF)"
        case .v6(let high, let low):
            var groups = [UInt16]()
            groups.reserveCapacity(8)
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: high >> UInt64(shift))) }
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: low >> UInt64(shift))) }
            // Find the longest run of zero groups (length >= 2).
            var bestStart = -1
            var bestLength = 0
            var runStart = -1
            for position in 0...8 {
                if position < 8, groups[position] == 0 {
                    if runStart < 0 { runStart = position }
                } else if runStart >= 0 {
                    let length = position - runStart
                    if length > bestLength {
                        bestStart = runStart
                        bestLength = length
                    }
                    runStart = -1
                }
            }
            if bestLength < 2 { bestStart = -1 }
            var text = ""
            var position = 0
            while position < 8 {
                if position == bestStart {
                    text += "::"
                    position += bestLength
                    continue
                }
                if !text.isEmpty, !text.hasSuffix(":") { text += ":" }
                text += String(groups[position], radix: 16)
                position += 1
            }
            return text
        }
    }
}
