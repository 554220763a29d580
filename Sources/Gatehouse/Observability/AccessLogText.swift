import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `text` format: one line per request in the spirit of nginx's `combined` format plus the
/// proxy's own facts:
///
///     2026-11-25T21:40:00Z 127.0.0.1 "GET /owa/ HTTP/1.1" 200 in=0 out=20600 us=850 route=contoso/owa backend=mbx01
///
/// (`cert=` and the SHA-256 thumbprint of the connection's verified client certificate follow the
/// backend when there is one.)
///
/// Every field goes through `writeEscaped`, so whatever a client puts into a method, target or
/// Host cannot end the line, start a field or close a quoted one: the line always has the shape
/// above, in printable ASCII only.
enum AccessLogText {
    /// Appends the line for `entry`, finished at `now` (seconds since the epoch), with its newline.
    static func write(_ entry: AccessLogEntry, at now: time_t, to buffer: inout ByteBuffer) {
        AccessLogDigits.writeISO8601(now, to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        writeEscaped(entry.client, to: &buffer, escapingSpace: true)
        buffer.writeStaticString(" \"")
        writeEscaped(entry.method, to: &buffer, escapingSpace: true)
        buffer.writeInteger(UInt8(ascii: " "))
        writeEscaped(entry.uri, to: &buffer, escapingSpace: true)
        buffer.writeInteger(UInt8(ascii: " "))
        writeEscaped(entry.proto, to: &buffer, escapingSpace: true)
        buffer.writeStaticString("\" ")
        AccessLogDigits.writeDecimal(entry.status, to: &buffer)
        buffer.writeStaticString(" in=")
        AccessLogDigits.writeDecimal(entry.bytesIn, to: &buffer)
        buffer.writeStaticString(" out=")
        AccessLogDigits.writeDecimal(entry.bytesOut, to: &buffer)
        buffer.writeStaticString(" us=")
        AccessLogDigits.writeDecimal(entry.microseconds, to: &buffer)
        if let route = entry.route {
            buffer.writeStaticString(" route=")
            writeEscaped(route, to: &buffer, escapingSpace: true)
        }
        if let backend = entry.backend {
            buffer.writeStaticString(" backend=")
            writeEscaped(backend, to: &buffer, escapingSpace: true)
        }
        if let thumbprint = entry.clientCertificateSHA256 {
            buffer.writeStaticString(" cert=")
            writeEscaped(thumbprint, to: &buffer, escapingSpace: true)
        }
        if let reason = entry.reason {
            // Prose: spaces stay, inside quotes.
            buffer.writeStaticString(" reason=\"")
            writeEscaped(reason, to: &buffer, escapingSpace: false)
            buffer.writeInteger(UInt8(ascii: "\""))
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// Appends `text` with every byte of its UTF-8 form outside printable ASCII (0x20...0x7E)
    /// written as `\xHH`, and so are the field delimiters `"` (`\x22`) and `\` (`\x5c`), and, for
    /// fields that are not quoted prose, the space (`\x20`). Line breaks of every kind (CR, LF,
    /// U+0085, U+2028, U+2029) therefore never reach the log as such, and neither does anything
    /// a terminal or log viewer would interpret.
    ///
    /// The usual field is printable already: one scan, then a plain copy; escaping happens only
    /// when the scan finds something.
    static func writeEscaped(_ text: String, to buffer: inout ByteBuffer, escapingSpace: Bool) {
        let lowest: UInt8 = escapingSpace ? 0x21 : 0x20
        func isClean(_ byte: UInt8) -> Bool { byte >= lowest && byte <= 0x7E && byte != 0x22 && byte != 0x5C }
        if AccessLogDigits.allBytes(of: text, isClean) {
            buffer.writeString(text)
            return
        }
        for byte in text.utf8 {
            if isClean(byte) {
                buffer.writeInteger(byte)
            } else {
                buffer.writeInteger(UInt8(ascii: "\\"))
                buffer.writeInteger(UInt8(ascii: "x"))
                buffer.writeInteger(AccessLogDigits.lowerHex(byte >> 4))
                buffer.writeInteger(AccessLogDigits.lowerHex(byte & 0x0F))
            }
        }
    }
}
