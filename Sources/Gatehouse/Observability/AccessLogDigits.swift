import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Helpers the formats share: UTC calendar fields and digits written straight into a buffer.
enum AccessLogDigits {
    /// The UTC calendar fields of `now` (`gmtime_r`: no time-zone file look-ups).
    static func utc(_ now: time_t) -> tm {
        var now = now
        var parts = tm()
        gmtime_r(&now, &parts)
        return parts
    }

    /// `YYYY-MM-DD` of `parts`.
    static func writeDate(_ parts: tm, to buffer: inout ByteBuffer) {
        let year = Int(parts.tm_year) + 1900
        writeTwo(year / 100, to: &buffer)
        writeTwo(year % 100, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "-"))
        writeTwo(Int(parts.tm_mon) + 1, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "-"))
        writeTwo(Int(parts.tm_mday), to: &buffer)
    }

    /// `now` in UTC as ISO 8601, `2026-11-25T21:40:00Z` (the text and JSON formats' time).
    static func writeISO8601(_ now: time_t, to buffer: inout ByteBuffer) {
        let parts = utc(now)
        writeDate(parts, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "T"))
        writeTime(parts, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "Z"))
    }

    /// `HH:MM:SS` of `parts`.
    static func writeTime(_ parts: tm, to buffer: inout ByteBuffer) {
        writeTwo(Int(parts.tm_hour), to: &buffer)
        buffer.writeInteger(UInt8(ascii: ":"))
        writeTwo(Int(parts.tm_min), to: &buffer)
        buffer.writeInteger(UInt8(ascii: ":"))
        writeTwo(Int(parts.tm_sec), to: &buffer)
    }

    /// `value` (0...99) as two decimal digits.
    @inline(__always)
    static func writeTwo(_ value: Int, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + value / 10))
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + value % 10))
    }

    /// A signed decimal number, without an intermediate string.
    static func writeDecimal<T: BinaryInteger>(_ value: T, to buffer: inout ByteBuffer) {
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            writeDecimal(UInt64(value.magnitude), to: &buffer)
            return
        }
        var magnitude = UInt64(value)
        var divisor: UInt64 = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + magnitude / divisor))
            magnitude %= divisor
            divisor /= 10
        }
    }

    /// The upper-case hex digit for a value 0...15.
    @inline(__always)
    static func upperHex(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x37 + value }

    /// The lower-case hex digit for a value 0...15.
    @inline(__always)
    static func lowerHex(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x57 + value }

    /// Whether every UTF-8 byte of `text` passes `isClean` (scanned as one buffer when contiguous).
    @inline(__always)
    static func allBytes(of text: String, _ isClean: (UInt8) -> Bool) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { $0.allSatisfy(isClean) } ?? text.utf8.allSatisfy(isClean)
    }
}
