#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One line per request on standard output, in the spirit of nginx's `combined` format plus the
/// proxy's own facts:
///
///     2026-11-25T21:40:00Z 127.0.0.1 "GET /owa/ HTTP/1.1" 200 in=0 out=20600 us=850 proto=http/1.1 route=contoso/owa backend=mbx01
///
/// Built for the hot path: the line is formatted straight into one string (no metadata
/// dictionary), the UTC timestamp comes from `gmtime_r` (no time-zone file look-ups), and it is
/// written with a single `write(2)`, which keeps lines from different event loops whole.
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

    func record(_ entry: Entry) {
        var line = ""
        line.reserveCapacity(128 + entry.uri.utf8.count)
        appendTimestamp(to: &line)
        line += " "
        line += entry.client
        line += " \""
        line += entry.method
        line += " "
        appendSanitised(entry.uri, to: &line)
        line += " "
        line += entry.proto
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
            line += route
        }
        if let backend = entry.backend {
            line += " backend="
            line += backend
        }
        if let reason = entry.reason {
            line += " reason=\""
            appendSanitised(reason, to: &line)
            line += "\""
        }
        line += "\n"
        var bytes = line
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

    /// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
    private func appendTimestamp(to line: inout String) {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
        line += String(parts.tm_year + 1900)
        line += "-" + two(parts.tm_mon + 1) + "-" + two(parts.tm_mday)
        line += "T" + two(parts.tm_hour) + ":" + two(parts.tm_min) + ":" + two(parts.tm_sec) + "Z"
    }

    /// Client-controlled text (the URI) never breaks the line format: controls, quotes and
    /// backslashes are escaped.
    private func appendSanitised(_ text: String, to line: inout String) {
        let clean = text.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F && $0 != 0x22 && $0 != 0x5C }
        if clean {
            line += text
            return
        }
        for byte in text.utf8 {
            switch byte {
            case 0x22: line += "\\\""
            case 0x5C: line += "\\\\"
            case 0..<0x20, 0x7F: line += "\\x" + String(byte, radix: 16)
            default: line.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
    }
}
