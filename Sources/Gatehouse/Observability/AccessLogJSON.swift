import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `json` format: one JSON object per line (JSON Lines), every key always present (`null`
/// when the request has no such fact), so a log shipper can map it once:
///
///     {"time":"2026-11-25T21:40:00Z","client":"192.0.2.7","server_ip":"192.0.2.1","server_port":443,
///      "method":"GET","uri":"/owa/","protocol":"HTTP/1.1","status":200,"bytes_in":0,"bytes_out":20600,
///      "duration_us":850,"route":"contoso/owa","backend":"mbx01","user":"CONTOSO\\alice",
///      "user_agent":"curl/8.5.0","device_id":null,"device_type":null,"client_cert_sha256":null,
///      "client_cert_subject":null,"reason":null}
///
/// (one line in the file.) Strings are escaped as RFC 8259 says, and beyond it every character
/// outside printable ASCII is written as `\uXXXX` (surrogate pairs above U+FFFF): the line is
/// ASCII, so no line separator of any kind, no terminal escape and no invalid UTF-8 reaches it.
enum AccessLogJSON {
    /// Appends the line for `entry`, finished at `now`, with its newline.
    static func write(_ entry: AccessLogEntry, at now: time_t, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"time\":\"")
        AccessLogDigits.writeISO8601(now, to: &buffer)
        buffer.writeStaticString("\",\"client\":")
        writeString(entry.client, to: &buffer)
        buffer.writeStaticString(",\"server_ip\":")
        writeString(entry.serverIP, to: &buffer)
        buffer.writeStaticString(",\"server_port\":")
        AccessLogDigits.writeDecimal(entry.serverPort, to: &buffer)
        buffer.writeStaticString(",\"method\":")
        writeString(entry.method, to: &buffer)
        buffer.writeStaticString(",\"uri\":")
        writeString(entry.uri, to: &buffer)
        buffer.writeStaticString(",\"protocol\":")
        writeString(entry.proto, to: &buffer)
        buffer.writeStaticString(",\"status\":")
        AccessLogDigits.writeDecimal(entry.status, to: &buffer)
        buffer.writeStaticString(",\"bytes_in\":")
        AccessLogDigits.writeDecimal(entry.bytesIn, to: &buffer)
        buffer.writeStaticString(",\"bytes_out\":")
        AccessLogDigits.writeDecimal(entry.bytesOut, to: &buffer)
        buffer.writeStaticString(",\"duration_us\":")
        AccessLogDigits.writeDecimal(entry.microseconds, to: &buffer)
        buffer.writeStaticString(",\"route\":")
        writeString(entry.route, to: &buffer)
        buffer.writeStaticString(",\"backend\":")
        writeString(entry.backend, to: &buffer)
        buffer.writeStaticString(",\"user\":")
        writeString(entry.user, to: &buffer)
        buffer.writeStaticString(",\"user_agent\":")
        writeString(entry.userAgent, to: &buffer)
        buffer.writeStaticString(",\"device_id\":")
        writeString(entry.device?.id, to: &buffer)
        buffer.writeStaticString(",\"device_type\":")
        writeString(entry.device?.type, to: &buffer)
        buffer.writeStaticString(",\"client_cert_sha256\":")
        writeString(entry.clientCertificateSHA256, to: &buffer)
        buffer.writeStaticString(",\"client_cert_subject\":")
        writeString(entry.clientCertificateSubject, to: &buffer)
        buffer.writeStaticString(",\"reason\":")
        writeString(entry.reason, to: &buffer)
        buffer.writeStaticString("}\n")
    }

    /// `null`, or the string literal of `text`.
    static func writeString(_ text: String?, to buffer: inout ByteBuffer) {
        guard let text else {
            buffer.writeStaticString("null")
            return
        }
        buffer.writeInteger(UInt8(ascii: "\""))
        func isClean(_ byte: UInt8) -> Bool { byte >= 0x20 && byte <= 0x7E && byte != 0x22 && byte != 0x5C }
        if AccessLogDigits.allBytes(of: text, isClean) {
            buffer.writeString(text)
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": buffer.writeStaticString("\\\"")
                case "\\": buffer.writeStaticString("\\\\")
                case "\n": buffer.writeStaticString("\\n")
                case "\r": buffer.writeStaticString("\\r")
                case "\t": buffer.writeStaticString("\\t")
                default:
                    if scalar.value >= 0x20 && scalar.value <= 0x7E {
                        buffer.writeInteger(UInt8(truncatingIfNeeded: scalar.value))
                    } else {
                        writeUnicodeEscapes(scalar, to: &buffer)
                    }
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// `\uXXXX` for a scalar in the Basic Multilingual Plane, a surrogate pair above it.
    private static func writeUnicodeEscapes(_ scalar: Unicode.Scalar, to buffer: inout ByteBuffer) {
        guard scalar.value > 0xFFFF else {
            writeUnicodeEscape(UInt16(scalar.value), to: &buffer)
            return
        }
        let offset = scalar.value - 0x10000
        writeUnicodeEscape(UInt16(0xD800 + (offset >> 10)), to: &buffer)
        writeUnicodeEscape(UInt16(0xDC00 + (offset & 0x3FF)), to: &buffer)
    }

    /// `\uXXXX` for one UTF-16 code unit.
    private static func writeUnicodeEscape(_ unit: UInt16, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("\\u")
        for shift in stride(from: 12, through: 0, by: -4) {
            buffer.writeInteger(AccessLogDigits.lowerHex(UInt8(truncatingIfNeeded: unit >> UInt16(shift)) & 0x0F))
        }
    }
}
