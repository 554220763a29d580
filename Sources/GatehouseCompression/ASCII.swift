/// Allocation-free helpers for reading HTTP header values as ASCII bytes.
///
/// Header values arrive as Swift `String`s; native strings are contiguous UTF-8, so `withUTF8`
/// gives their bytes without copying, and every check here works on slices of that buffer.
enum ASCII {
    /// Bytes of a header value (or part of one).
    typealias Bytes = Slice<UnsafeBufferPointer<UInt8>>

    /// Calls `body` with the UTF-8 bytes of `string`, without copying when it is already native.
    static func withBytes<R>(_ string: String, _ body: (Bytes) -> R) -> R {
        var string = string  // withUTF8 is mutating only because it may make a bridged string native.
        return string.withUTF8 { body($0[...]) }
    }

    /// Optional whitespace (RFC 9110 OWS): space or horizontal tab.
    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    /// ASCII lowercase; other bytes unchanged.
    static func lowercased(_ byte: UInt8) -> UInt8 {
        (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
    }

    /// RFC 9110 `tchar`: the characters allowed in a token.
    static func isTokenChar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// `bytes` without leading and trailing whitespace.
    static func trimmed(_ bytes: Bytes) -> Bytes {
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end && isWhitespace(bytes[start]) { start += 1 }
        while end > start && isWhitespace(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end]
    }

    /// Case-insensitive equality of two ASCII byte sequences.
    static func equalsIgnoringCase(_ bytes: Bytes, _ other: Bytes) -> Bool {
        guard bytes.count == other.count else { return false }
        return zip(bytes, other).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// Case-insensitive equality with a literal (the literal must be ASCII).
    static func equalsIgnoringCase(_ bytes: Bytes, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { equalsIgnoringCase(bytes, $0[...]) }
    }

    /// Whether `bytes` ends with `literal`, ignoring case.
    static func hasSuffixIgnoringCase(_ bytes: Bytes, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { suffix in
            bytes.count >= suffix.count && equalsIgnoringCase(bytes.suffix(suffix.count), suffix[...])
        }
    }

    /// Calls `body` with each trimmed, non-empty element of a comma-separated list (RFC 9110
    /// section 5.6.1), treating commas inside quoted strings as part of the element.
    /// Stops early when `body` returns `false`.
    static func forEachListElement(_ bytes: Bytes, _ body: (Bytes) -> Bool) {
        var elementStart = bytes.startIndex
        var index = bytes.startIndex
        var inQuotes = false
        while index <= bytes.endIndex {
            let atEnd = index == bytes.endIndex
            let byte: UInt8 = atEnd ? UInt8(ascii: ",") : bytes[index]
            if inQuotes && !atEnd {
                if byte == UInt8(ascii: "\\") && index + 1 < bytes.endIndex {
                    index += 1  // quoted-pair: skip the escaped byte too
                } else if byte == UInt8(ascii: "\"") {
                    inQuotes = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inQuotes = true
            } else if byte == UInt8(ascii: ",") {
                let element = trimmed(bytes[elementStart..<min(index, bytes.endIndex)])
                if !element.isEmpty && !body(element) { return }
                elementStart = index + 1
            }
            index += 1
        }
    }

    /// Whether a comma-separated list contains an element whose name (the part before any `=`
    /// or `;`) equals `name`, ignoring case. Used for Cache-Control directives and Vary.
    static func listContains(_ bytes: Bytes, name: StaticString) -> Bool {
        var found = false
        forEachListElement(bytes) { element in
            var end = element.startIndex
            while end < element.endIndex && element[end] != UInt8(ascii: "=") && element[end] != UInt8(ascii: ";") {
                end += 1
            }
            found = equalsIgnoringCase(trimmed(element[..<end]), name)
            return !found
        }
        return found
    }
}
