#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One line per request on standard output, in the spirit of nginx's `combined` format plus the
/// proxy's own facts:
///
///     2026-11-25T21:40:00Z 127.0.0.1 "GET /owa/ HTTP/1.1" 200 in=0 out=20600 us=850 route=contoso/owa backend=mbx01
///
/// Built for the hot path: the line is formatted straight into one string (no metadata
/// dictionary), the UTC timestamp comes from `gmtime_r` (no time-zone file look-ups), and it is
/// written with a single `write(2)`, which keeps lines from different event loops whole.
///
/// Fields are escaped (see `appendEscaped`): the line is printable ASCII whatever the client sent.
public final class AccessLog: Sendable {
    private let fileDescriptor: Int32

    public init(fileDescriptor: Int32 = 1) {
        self.fileDescriptor = fileDescriptor
    }

    /// What one finished request contributes to its line.
    struct Entry {
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
    }

    /// Writes the line for `entry` (one `write(2)` unless the kernel takes it in parts).
    func record(_ entry: Entry) {
        var bytes = Self.line(for: entry, at: time(nil))
        bytes.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 {
                    // EINTR: try again; anything else (a closed stdout): drop the line, never block or crash.
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// The line for `entry` finished at `now` (seconds since the epoch), ending in a newline.
    ///
    /// Every field goes through `appendEscaped`, so whatever a client puts into a method, target
    /// or Host cannot end the line, start a field or close a quoted one: the line always has the
    /// shape above, in printable ASCII only.
    static func line(for entry: Entry, at now: time_t) -> String {
        var line = ""
        line.reserveCapacity(128 + entry.uri.utf8.count + (entry.reason?.utf8.count ?? 0))
        appendTimestamp(now, to: &line)
        line += " "
        appendEscaped(entry.client, to: &line, escapingSpace: true)
        line += " \""
        appendEscaped(entry.method, to: &line, escapingSpace: true)
        line += " "
        appendEscaped(entry.uri, to: &line, escapingSpace: true)
        line += " "
        appendEscaped(entry.proto, to: &line, escapingSpace: true)
        line += "\" "
        line += String(entry.status)
        line += " in="
        line += String(entry.bytesIn)
        line += " out="
        line += String(entry.bytesOut)
        line += " us="
        line += String(entry.microseconds)
        if let route = entry.route {
            line += " route="
            appendEscaped(route, to: &line, escapingSpace: true)
        }
        if let backend = entry.backend {
            line += " backend="
            appendEscaped(backend, to: &line, escapingSpace: true)
        }
        if let reason = entry.reason {
            // Prose: spaces stay, inside quotes.
            line += " reason=\""
            appendEscaped(reason, to: &line, escapingSpace: false)
            line += "\""
        }
        line += "\n"
        return line
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` in UTC: written as two ten-byte pieces, each a small string (no
    /// allocation, no intermediate strings per field).
    private static func appendTimestamp(_ now: time_t, to line: inout String) {
        var now = now
        var parts = tm()
        gmtime_r(&now, &parts)
        let year = Int(parts.tm_year) + 1900
        line += tenBytes { bytes in
            put(year / 100, at: 0, in: bytes)
            put(year % 100, at: 2, in: bytes)
            bytes[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, at: 5, in: bytes)
            bytes[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), at: 8, in: bytes)
        }
        line += tenBytes { bytes in
            bytes[0] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), at: 1, in: bytes)
            bytes[3] = UInt8(ascii: ":")
            put(Int(parts.tm_min), at: 4, in: bytes)
            bytes[6] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), at: 7, in: bytes)
            bytes[9] = UInt8(ascii: "Z")
        }
    }

    /// A ten-byte ASCII string filled by `fill`.
    private static func tenBytes(_ fill: (UnsafeMutableBufferPointer<UInt8>) -> Void) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { bytes in
            fill(bytes)
            return String(decoding: UnsafeBufferPointer(bytes), as: UTF8.self)
        }
    }

    /// Writes `value` (0...99) as two decimal digits at `offset`.
    @inline(__always)
    private static func put(_ value: Int, at offset: Int, in bytes: UnsafeMutableBufferPointer<UInt8>) {
        bytes[offset] = UInt8(truncatingIfNeeded: 0x30 + value / 10)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
    }

    /// Appends `text` with every byte of its UTF-8 form outside printable ASCII (0x20...0x7E)
    /// written as `\xHH`, and so are the field delimiters `"` (`\x22`) and `\` (`\x5c`), and, for
    /// fields that are not quoted prose, the space (`\x20`). Line breaks of every kind (CR, LF,
    /// U+0085, U+2028, U+2029) therefore never reach the log as such, and neither does anything
    /// a terminal or log viewer would interpret.
    ///
    /// The usual field is printable already: one scan, then a plain append into the line's
    /// reserved capacity; escaping happens only when the scan finds something.
    static func appendEscaped(_ text: String, to line: inout String, escapingSpace: Bool) {
        let lowest: UInt8 = escapingSpace ? 0x21 : 0x20
        func isClean(_ byte: UInt8) -> Bool { byte >= lowest && byte <= 0x7E && byte != 0x22 && byte != 0x5C }
        // A native string's bytes are contiguous: scan them as a buffer, not through the iterator.
        let clean = text.utf8.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy(isClean) }
            ?? text.utf8.allSatisfy(isClean)
        if clean {
            line += text
            return
        }
        for byte in text.utf8 {
            if isClean(byte) {
                line.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                line.unicodeScalars.append("\\")
                line.unicodeScalars.append("x")
                line.unicodeScalars.append(hexDigit(byte >> 4))
                line.unicodeScalars.append(hexDigit(byte & 0x0F))
            }
        }
    }

    /// The lower-case hex digit for a value 0...15.
    @inline(__always)
    private static func hexDigit(_ value: UInt8) -> Unicode.Scalar {
        Unicode.Scalar(value < 10 ? 0x30 + value : 0x57 + value)   // '0'...'9', 'a'...'f'
    }
}
