import Foundation
import NIOCore
import Testing

@testable import Gatehouse

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The access log's line format survives whatever a client sends: every field is escaped to
/// printable ASCII, so no request can end a line early, add a field or close a quoted one.
@Suite struct AccessLogTests {
    static let plain = AccessLog.Entry(
        client: "192.0.2.7", method: "GET", uri: "/owa/?a=1", proto: "HTTP/1.1", status: 200, bytesIn: 0,
        bytesOut: 20600, microseconds: 850, route: "contoso/owa", backend: "mbx01", reason: nil)

    /// Text with every kind of line break and delimiter a client could try: CR, LF, NEL (U+0085),
    /// LINE SEPARATOR (U+2028), PARAGRAPH SEPARATOR (U+2029), NUL, ESC, DEL, quote, backslash, space.
    static let hostile = "a\r\nb\u{85}c\u{2028}d\u{2029}e\u{0}f\u{1B}[31mg\u{7F}h\"i\\j k"
    static let hostileEscaped =
        #"a\x0d\x0ab\xc2\x85c\xe2\x80\xa8d\xe2\x80\xa9e\x00f\x1b[31mg\x7fh\x22i\x5cj\x20k"#

    @Test func printableFieldsAreWrittenAsTheyAre() {
        var entry = Self.plain
        entry.reason = "no route for /x"
        #expect(
            AccessLog.line(for: entry, at: 0) == "1970-01-01T00:00:00Z 192.0.2.7 \"GET /owa/?a=1 HTTP/1.1\" 200 "
                + "in=0 out=20600 us=850 route=contoso/owa backend=mbx01 reason=\"no route for /x\"\n")
    }

    /// Numbers and times are placed digit by digit into the buffer's free space: every width,
    /// zero, the extremes and a timestamp with every field two digits wide come out whole.
    @Test func numbersAndTimesAreWrittenWhole() {
        func text(_ write: (inout ByteBuffer) -> Void) -> String {
            var buffer = ByteBuffer()
            write(&buffer)
            return String(buffer: buffer)
        }
        for value: Int64 in [0, 7, 10, 99, 100, 1_234_567, Int64.max, -1, -905, Int64.min] {
            #expect(text { AccessLogDigits.writeDecimal(value, to: &$0) } == "\(value)")
        }
        #expect(text { AccessLogDigits.writeDecimal(UInt.max, to: &$0) } == "\(UInt.max)")
        // 2026-12-31 23:59:58 UTC, then appended after other bytes (the write starts at the writer index).
        #expect(text { AccessLogDigits.writeISO8601(1_798_761_598, to: &$0) } == "2026-12-31T23:59:58Z")
        #expect(
            text {
                $0.writeString("x ")
                let parts = AccessLogDigits.utc(1_798_761_598)
                AccessLogDigits.writeDate(parts, to: &$0)
                AccessLogDigits.writeTime(parts, to: &$0)
            } == "x 2026-12-3123:59:58")
    }

    @Test func theTargetIsEscapedByteByByte() {
        var entry = Self.plain
        entry.uri = "/owa/" + Self.hostile
        let line = AccessLog.line(for: entry, at: 0)
        #expect(line.contains(" \"GET /owa/" + Self.hostileEscaped + " HTTP/1.1\" 200 "), "\(line)")
    }

    @Test(arguments: ["client", "method", "uri", "proto", "route", "backend", "reason"])
    func everyFieldIsEscaped(field: String) {
        var entry = Self.plain
        switch field {
        case "client": entry.client = Self.hostile
        case "method": entry.method = Self.hostile
        case "uri": entry.uri = Self.hostile
        case "proto": entry.proto = Self.hostile
        case "route": entry.route = Self.hostile
        case "backend": entry.backend = Self.hostile
        default: entry.reason = Self.hostile
        }
        let line = AccessLog.line(for: entry, at: 0)
        let bytes = Array(line.utf8)
        // One line: printable ASCII, then exactly one newline, at the end.
        #expect(bytes.last == 0x0A)
        #expect(bytes.dropLast().allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "\(line)")
        // The quotes are only the format's own: around the request, and around the reason.
        #expect(bytes.filter { $0 == 0x22 }.count == (field == "reason" ? 4 : 2), "\(line)")
        // The reason is quoted prose and keeps its space; every other field escapes it.
        let escaped =
            field == "reason"
            ? Self.hostileEscaped.replacingOccurrences(of: #"\x20"#, with: " ")
            : Self.hostileEscaped
        #expect(line.contains(escaped), "\(line)")
        // The fields still split where the format says.
        let words = line.split(separator: " ")
        #expect(words.count == (field == "reason" ? 13 : 11), "\(words)")
    }

    @Test func reasonKeepsItsSpacesButNotItsQuotes() {
        var entry = Self.plain
        entry.reason = "no virtual service for host \"evil\" \u{2028}x"
        let line = AccessLog.line(for: entry, at: 0)
        #expect(line.hasSuffix(#" reason="no virtual service for host \x22evil\x22 \xe2\x80\xa8x""# + "\n"))
    }

    @Test func nonASCIITextIsEscapedAsItsUTF8Bytes() {
        var entry = Self.plain
        entry.uri = "/owa/Grüße/日"
        #expect(AccessLog.line(for: entry, at: 0).contains(#" /owa/Gr\xc3\xbc\xc3\x9fe/\xe6\x97\xa5 "#))
    }

    @Test func recordWritesTheLineToItsFileDescriptor() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        var entry = Self.plain
        entry.uri = "/owa/" + Self.hostile
        AccessLog(fileDescriptor: fds[1]).record(entry)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fds[0], &buffer, buffer.count)
        let written = String(decoding: buffer[..<max(count, 0)], as: UTF8.self)
        // The same line as `line(for:at:)` apart from the clock.
        let expected = AccessLog.line(for: entry, at: 0)
        #expect(written.dropFirst(20) == expected.dropFirst(20), "\(written)")
        #expect(written.filter { $0 == "\n" }.count == 1)
    }
}
