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
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 10) { out in
            putDate(parts, into: out, at: 0)
            return 10
        }
    }

    /// `now` in UTC as ISO 8601, `2026-11-25T21:40:00Z` (the text and JSON formats' time).
    static func writeISO8601(_ now: time_t, to buffer: inout ByteBuffer) {
        let parts = utc(now)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { out in
            putDate(parts, into: out, at: 0)
            out[10] = UInt8(ascii: "T")
            putTime(parts, into: out, at: 11)
            out[19] = UInt8(ascii: "Z")
            return 20
        }
    }

    /// `HH:MM:SS` of `parts`.
    static func writeTime(_ parts: tm, to buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 8) { out in
            putTime(parts, into: out, at: 0)
            return 8
        }
    }

    // The digits are placed into the buffer's free space and written with one call: a
    // `writeInteger` per byte was ~250 instructions each (capacity check, exclusivity check), about
    // 40 of them per line.

    /// Places `YYYY-MM-DD` (10 bytes) at `offset`.
    private static func putDate(_ parts: tm, into out: UnsafeMutableRawBufferPointer, at offset: Int) {
        let year = Int(parts.tm_year) + 1900
        putTwo(year / 100, into: out, at: offset)
        putTwo(year % 100, into: out, at: offset + 2)
        out[offset + 4] = UInt8(ascii: "-")
        putTwo(Int(parts.tm_mon) + 1, into: out, at: offset + 5)
        out[offset + 7] = UInt8(ascii: "-")
        putTwo(Int(parts.tm_mday), into: out, at: offset + 8)
    }

    /// Places `HH:MM:SS` (8 bytes) at `offset`.
    private static func putTime(_ parts: tm, into out: UnsafeMutableRawBufferPointer, at offset: Int) {
        putTwo(Int(parts.tm_hour), into: out, at: offset)
        out[offset + 2] = UInt8(ascii: ":")
        putTwo(Int(parts.tm_min), into: out, at: offset + 3)
        out[offset + 5] = UInt8(ascii: ":")
        putTwo(Int(parts.tm_sec), into: out, at: offset + 6)
    }

    /// Places `value` (0...99) as two decimal digits at `offset`.
    @inline(__always)
    private static func putTwo(_ value: Int, into out: UnsafeMutableRawBufferPointer, at offset: Int) {
        out[offset] = UInt8(truncatingIfNeeded: 0x30 + value / 10)
        out[offset + 1] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
    }

    /// A signed decimal number, without an intermediate string, in one write.
    static func writeDecimal<T: BinaryInteger>(_ value: T, to buffer: inout ByteBuffer) {
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            writeDecimal(UInt64(value.magnitude), to: &buffer)
            return
        }
        let magnitude = UInt64(value)
        var count = 1
        var rest = magnitude / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { out in
            var rest = magnitude
            var index = count
            repeat {
                index -= 1
                out[index] = UInt8(truncatingIfNeeded: 0x30 + rest % 10)
                rest /= 10
            } while index > 0
            return count
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
