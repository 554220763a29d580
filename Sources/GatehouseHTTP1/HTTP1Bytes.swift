#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte classes of RFC 9110/9112, as branch-light tests on one byte (no tables to load or bounds-check).
enum HTTP1Bytes {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let comma: UInt8 = 0x2C

    // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
    //         / DIGIT / ALPHA, as two 64-bit masks: bit b of `tokenLow` for byte b < 64, bit b-64 of
    // `tokenHigh` for 64 <= b < 128. `HTTP1BytesTests` checks them against the grammar spelled out.
    static let tokenLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tokenHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// Whether `byte` is an RFC 9110 tchar.
    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenLow >> UInt64(byte)) & 1 != 0 }
        if byte < 128 { return (tokenHigh >> UInt64(byte &- 64)) & 1 != 0 }
        return false
    }

    /// Whether `byte` may appear in a field value: HTAB, SP, VCHAR or obs-text (not NUL, CR, LF, DEL
    /// or another control character).
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        (byte >= 0x20 && byte != 0x7F) || byte == tab
    }

    /// Whether any of the eight bytes in `word` is below 0x20 or is 0x7F (SWAR: a byte below n sets
    /// its top bit in `(x - n) & ~x`; obs-text bytes have their top bit set in x and so never count).
    /// Exact for "any": a false positive in one byte can only follow a true one in a lower byte.
    @inline(__always)
    static func mayHoldControl(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let belowSpace = (word &- ones &* 0x20) & ~word & highs
        let delete = word ^ (ones &* 0x7F)
        let isDelete = (delete &- ones) & ~delete & highs
        return belowSpace | isDelete != 0
    }

    /// Whether any of the eight bytes in `word` is above 0x7F (obs-text, or part of a UTF-8 sequence).
    @inline(__always)
    static func holdsNonASCII(_ word: UInt64) -> Bool {
        word & 0x8080_8080_8080_8080 != 0
    }

    /// Whether the `count` bytes at `start` are well-formed UTF-8 (RFC 3629, Unicode table 3-7): no
    /// overlong forms, no surrogates (U+D800...U+DFFF), nothing above U+10FFFF, no truncated or
    /// stray continuation bytes. Exactly the byte strings a Swift `String` keeps unchanged.
    static func isValidUTF8(_ start: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        var index = 0
        while index < count {
            let lead = start[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            // The sequence length, and the range its second byte must fall in: the lead bytes E0,
            // ED, F0 and F4 narrow it to rule out overlong forms, surrogates and code points
            // beyond U+10FFFF; every other continuation byte is 80...BF.
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                high = 0x9F
            case 0xF0:
                length = 4
                low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                high = 0x8F
            default: return false  // 80...C1 (continuation or overlong lead), F5...FF
            }
            guard count - index >= length else { return false }
            let second = start[index + 1]
            guard second >= low, second <= high else { return false }
            var offset = 2
            while offset < length {
                guard start[index + offset] & 0xC0 == 0x80 else { return false }
                offset += 1
            }
            index += length
        }
        return true
    }

    /// Whether `byte` may appear in a request target: visible ASCII only (RFC 3986 has no spaces,
    /// controls or raw non-ASCII; rejecting them here keeps the target byte-exact when proxied).
    @inline(__always)
    static func isTargetByte(_ byte: UInt8) -> Bool {
        byte &- 0x21 < 0x5E  // 0x21...0x7E
    }

    /// Whether `byte` is optional whitespace (SP or HTAB).
    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    /// The value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case 0x30...0x39: UInt64(byte &- 0x30)
        case 0x41...0x46: UInt64(byte &- 0x41 &+ 10)
        case 0x61...0x66: UInt64(byte &- 0x61 &+ 10)
        default: nil
        }
    }

    /// Whether the `count` bytes at `start` equal `lowercaseName` ignoring ASCII case. Only valid for
    /// token bytes and a name of lower-case letters and `-`: OR-ing 0x20 maps exactly the upper-case
    /// letters onto the lower-case ones among tchars.
    @inline(__always)
    static func tokenEqualsLowercase(_ start: UnsafePointer<UInt8>, _ count: Int, _ lowercaseName: StaticString) -> Bool {
        guard count == lowercaseName.utf8CodeUnitCount else { return false }
        let name = lowercaseName.utf8Start
        for index in 0..<count where start[index] | 0x20 != name[index] {
            return false
        }
        return true
    }

    /// The offset of the first `byte` in `count` bytes from `start`, or nil (memchr: vectorised by libc).
    @inline(__always)
    static func find(_ byte: UInt8, in start: UnsafePointer<UInt8>, count: Int) -> Int? {
        guard count > 0, let found = memchr(start, Int32(byte), count) else { return nil }
        return UnsafeRawPointer(found) - UnsafeRawPointer(start)
    }

    /// Up to `limit` bytes as text, for error messages only.
    static func quote(_ start: UnsafePointer<UInt8>, _ count: Int, limit: Int = 60) -> String {
        let shown = String(decoding: UnsafeBufferPointer(start: start, count: min(count, limit)), as: UTF8.self)
        let escaped = shown.unicodeScalars.map { scalar -> String in
            scalar.value < 0x20 || scalar.value == 0x7F ? "\\x" + String(scalar.value, radix: 16) : String(scalar)
        }.joined()
        return count > limit ? escaped + "..." : escaped
    }
}
