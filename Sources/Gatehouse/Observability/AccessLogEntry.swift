#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// What one finished request contributes to its access-log line. The first group of fields is
/// known for every request; the extended group (server address, user, user agent, ActiveSync
/// device) is filled in only when the configured format shows it, so the text format costs no
/// more than it did before those fields existed.
struct AccessLogEntry {
    var client: String
    var method: String
    var uri: String
    var proto: String
    var status: UInt
    var bytesIn: Int64
    var bytesOut: Int64
    var microseconds: Int64
    var route: String?
    var backend: String?
    var reason: String?
    // Extended fields (JSON and W3C only).
    /// The address and port the client connected to (W3C `s-ip`, `s-port`).
    var serverIP: String? = nil
    var serverPort: Int = 0
    /// Who the client authenticated as (NTLM `DOMAIN\user` or the Basic user name): never a secret.
    var user: String? = nil
    var userAgent: String? = nil
    /// The ActiveSync device, from the request's query.
    var device: ActiveSyncDevice? = nil
}

/// The three line formats an operator can choose (`access_log.format`).
public enum AccessLogFormat: String, Sendable, Hashable, CaseIterable {
    /// One human-readable line, in the spirit of nginx's `combined` (the default).
    case text
    /// One JSON object per line.
    case json
    /// W3C Extended Log File Format with IIS field names, for Log Parser and the tools Exchange
    /// administrators already use on IIS logs.
    case w3c

    /// Whether the format shows the extended fields (user, user agent, device, server address).
    var showsExtendedFields: Bool { self != .text }
}

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
