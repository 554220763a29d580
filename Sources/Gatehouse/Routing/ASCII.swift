/// Byte-level helpers for the request hot path: ASCII case folding, hex digits and substring search
/// over UTF-8 bytes, so routing and deny rules never need Foundation, regexes or temporary Strings.
enum ASCII {
    /// Folds `A`-`Z` to `a`-`z`; every other byte (including UTF-8 continuation bytes) is unchanged.
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        (byte &- 0x41) < 26 ? byte | 0x20 : byte
    }

    /// The value of one hexadecimal digit, or nil when `byte` is not `0-9a-fA-F`.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    /// Upper-case hex digit for a nibble (0...15), as RFC 3986 2.1 recommends for producers.
    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "A") &+ nibble &- 10
    }

    /// Whether `haystack` contains `needle`, comparing ASCII case-insensitively.
    /// `needle` must already be lower case.
    static func containsLowercased<H: Collection<UInt8>>(_ haystack: H, _ needle: [UInt8]) -> Bool
    where H.Index == Int {
        firstIndexLowercased(of: needle, in: haystack, from: haystack.startIndex) != nil
    }

    /// The first index at or after `start` where `needle` (already lower case) occurs in `haystack`
    /// ignoring ASCII case. A naive scan: needles are short, haystacks are request lines.
    static func firstIndexLowercased<H: Collection<UInt8>>(
        of needle: [UInt8], in haystack: H, from start: Int
    ) -> Int? where H.Index == Int {
        guard !needle.isEmpty else { return start }
        let end = haystack.endIndex
        guard end - start >= needle.count else { return nil }
        let first = needle[0]
        var index = start
        let last = end - needle.count
        while index <= last {
            if lower(haystack[index]) == first {
                var offset = 1
                while offset < needle.count, lower(haystack[index + offset]) == needle[offset] {
                    offset += 1
                }
                if offset == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    /// Whether two byte sequences are equal ignoring ASCII case.
    static func equalsIgnoringCase<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { lower($0) == lower($1) }
    }

    /// Whether `name` equals `lowercased` (already lower case) ignoring ASCII case; used for header
    /// names, which arrive in any case from HTTP/1.1 clients.
    @inline(__always)
    static func nameEquals(_ name: String, _ lowercased: StaticString) -> Bool {
        let utf8 = name.utf8
        guard utf8.count == lowercased.utf8CodeUnitCount else { return false }
        return lowercased.withUTF8Buffer { expected in
            var index = 0
            for byte in utf8 {
                if lower(byte) != expected[index] { return false }
                index += 1
            }
            return true
        }
    }

    /// Whether `bytes` are all lower case ASCII letters, digits or punctuation (no `A`-`Z`).
    static func isLowercase<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        !bytes.contains { ($0 &- 0x41) < 26 }
    }
}
