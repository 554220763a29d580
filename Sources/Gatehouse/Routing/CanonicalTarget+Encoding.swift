extension CanonicalTarget {
    /// Whether a decoded path byte may be sent as is: RFC 3986 pchar minus `%` (unreserved,
    /// sub-delims, `:`, `@`) plus `/`. Everything else is percent-encoded for the backend.
    @inline(__always)
    static func isPathByteLiteral(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
            UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }

    /// The origin-form target for the backend: the canonical path with every byte that is not a
    /// literal pchar written as `%XX` (upper-case hex), then `?` and the raw query if there was one.
    static func encodeForBackend(_ path: [UInt8], query: String?) -> String {
        var capacity = path.count + (query.map { $0.utf8.count + 1 } ?? 0)
        for byte in path where !isPathByteLiteral(byte) { capacity += 2 }
        return String(unsafeUninitializedCapacity: capacity) { buffer in
            var position = 0
            for byte in path {
                if isPathByteLiteral(byte) {
                    buffer[position] = byte
                    position += 1
                } else {
                    buffer[position] = UInt8(ascii: "%")
                    buffer[position + 1] = ASCII.hexDigit(byte >> 4)
                    buffer[position + 2] = ASCII.hexDigit(byte & 0x0F)
                    position += 3
                }
            }
            if let query {
                buffer[position] = UInt8(ascii: "?")
                position += 1
                for byte in query.utf8 {
                    buffer[position] = byte
                    position += 1
                }
            }
            return position
        }
    }
}
