import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `w3c` format: the W3C Extended Log File Format (https://www.w3.org/TR/WD-logfile.html) with
/// the field names IIS writes, so Log Parser queries written for an Exchange server's IIS logs run
/// on Gatehouse's log unchanged. Each file starts with the directives
///
///     #Software: Gatehouse 0.1.0
///     #Version: 1.0
///     #Date: 2026-11-25 21:40:00
///     #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip ...
///
/// then one space-separated line per request, `-` for an empty field. Fields that are not IIS's
/// carry the `x-` prefix the specification reserves for extensions. `time-taken` is milliseconds,
/// as in IIS; date and time are UTC.
///
/// Escaping (`writeField`), as IIS does for spaces and beyond it for everything a client could use
/// to forge a line or a field: a space becomes `+`; a control byte, DEL, `"` and every byte of a
/// non-ASCII character become `%XX` (so CR and LF are `%0D`, `%0A`). `%` and `+` are kept as sent:
/// in `cs-uri-stem` and `cs-uri-query` they mean what they mean in the URL the client sent.
enum AccessLogW3C {
    /// The `#Fields:` list, in the order every line writes them.
    static let fields = [
        "date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port", "cs-username", "c-ip",
        "cs-version", "cs(User-Agent)", "sc-status", "sc-bytes", "cs-bytes", "time-taken",
        "x-route", "x-backend", "x-device-id", "x-device-type", "x-client-cert-thumbprint", "x-reason"
    ]

    /// The directives that start a file (or standard output), opened at `now`.
    static func header(at now: time_t) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("#Software: Gatehouse \(GatehouseInfo.version)\n#Version: 1.0\n#Date: ")
        let parts = AccessLogDigits.utc(now)
        AccessLogDigits.writeDate(parts, to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        AccessLogDigits.writeTime(parts, to: &buffer)
        buffer.writeString("\n#Fields: " + fields.joined(separator: " ") + "\n")
        return buffer
    }

    /// Appends the line for `entry`, finished at `now`, with its newline.
    static func write(_ entry: AccessLogEntry, at now: time_t, to buffer: inout ByteBuffer) {
        let parts = AccessLogDigits.utc(now)
        AccessLogDigits.writeDate(parts, to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        AccessLogDigits.writeTime(parts, to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        writeField(entry.serverIP, to: &buffer)
        writeField(entry.method, to: &buffer)
        // The target splits at its first '?' into stem and query, without a copy of either.
        let uri = entry.uri.utf8
        if let mark = uri.firstIndex(of: UInt8(ascii: "?")) {
            writeField(entry.uri[..<mark], to: &buffer)
            writeField(entry.uri[uri.index(after: mark)...], to: &buffer)
        } else {
            writeField(entry.uri, to: &buffer)
            writeField(nil as String?, to: &buffer)
        }
        writeNumber(entry.serverPort, to: &buffer)
        writeField(entry.user, to: &buffer)
        writeField(entry.client, to: &buffer)
        writeField(entry.proto, to: &buffer)
        writeField(entry.userAgent, to: &buffer)
        writeNumber(entry.status, to: &buffer)
        writeNumber(entry.bytesOut, to: &buffer)
        writeNumber(entry.bytesIn, to: &buffer)
        writeNumber(entry.microseconds / 1000, to: &buffer)
        writeField(entry.route, to: &buffer)
        writeField(entry.backend, to: &buffer)
        writeField(entry.device?.id, to: &buffer)
        writeField(entry.device?.type, to: &buffer)
        writeField(entry.clientCertificateSHA256, to: &buffer)
        writeField(entry.reason, to: &buffer, last: true)
    }

    private static func writeNumber<T: BinaryInteger>(_ value: T, to buffer: inout ByteBuffer) {
        AccessLogDigits.writeDecimal(value, to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
    }

    /// One field and the separator after it (a newline after the last): `-` when absent or
    /// empty, else the text escaped as the type's comment says.
    static func writeField<S: StringProtocol>(_ text: S?, to buffer: inout ByteBuffer, last: Bool = false) {
        defer { buffer.writeInteger(last ? UInt8(ascii: "\n") : UInt8(ascii: " ")) }
        guard let text, !text.isEmpty else {
            buffer.writeInteger(UInt8(ascii: "-"))
            return
        }
        func isClean(_ byte: UInt8) -> Bool { byte > 0x20 && byte <= 0x7E && byte != 0x22 }
        let clean =
            text.utf8.withContiguousStorageIfAvailable { $0.allSatisfy(isClean) }
            ?? text.utf8.allSatisfy(isClean)
        if clean {
            buffer.writeBytes(text.utf8)
            return
        }
        for byte in text.utf8 {
            if isClean(byte) {
                buffer.writeInteger(byte)
            } else if byte == 0x20 {
                buffer.writeInteger(UInt8(ascii: "+"))
            } else {
                buffer.writeInteger(UInt8(ascii: "%"))
                buffer.writeInteger(AccessLogDigits.upperHex(byte >> 4))
                buffer.writeInteger(AccessLogDigits.upperHex(byte & 0x0F))
            }
        }
    }
}
