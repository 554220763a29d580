import Foundation
import NIOCore
import Testing

@testable import Gatehouse

/// The JSON and W3C formats: their shape, and that hostile field values cannot forge a line, a
/// field or a key. (The text format's escaping is `AccessLogTests`.)
@Suite struct AccessLogFormatTests {
    static let full = AccessLog.Entry(
        client: "192.0.2.7", method: "GET", uri: "/Microsoft-Server-ActiveSync?Cmd=Sync&DeviceId=ABC123&DeviceType=iPhone",
        proto: "HTTP/1.1", status: 200, bytesIn: 12, bytesOut: 20600, microseconds: 8_500, route: "contoso/activesync",
        backend: "mbx01", reason: nil, serverIP: "192.0.2.1", serverPort: 443, user: "CONTOSO\\alice",
        userAgent: "Apple-iPhone/1 (iOS 17)", device: ActiveSyncDevice(id: "ABC123", type: "iPhone"))

    /// CR, LF, NUL, ESC, DEL, quotes, backslash, space, NEL, U+2028, a non-BMP character.
    static let hostile = "a\r\nb\u{0}c\u{1B}d\u{7F}e\"f\\g h\u{85}i\u{2028}j😀k"

    // MARK: JSON

    @Test func jsonHasEveryKeyAndParses() throws {
        let line = AccessLog.line(for: Self.full, as: .json, at: 0)
        #expect(line.hasSuffix("}\n"))
        #expect(line.filter { $0 == "\n" }.count == 1)
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["time"] as? String == "1970-01-01T00:00:00Z")
        #expect(object["user"] as? String == "CONTOSO\\alice")
        #expect(object["status"] as? Int == 200)
        #expect(object["duration_us"] as? Int == 8_500)
        #expect(object["server_port"] as? Int == 443)
        #expect(object["device_id"] as? String == "ABC123")
        #expect(object["device_type"] as? String == "iPhone")
        #expect(object["user_agent"] as? String == "Apple-iPhone/1 (iOS 17)")
        #expect(object["reason"] is NSNull)
        #expect(object.count == 20)
        #expect(object["client_cert_sha256"] is NSNull)
    }

    @Test(arguments: ["client", "uri", "user", "userAgent", "route", "reason", "deviceId"])
    func jsonEscapesHostileValuesAndKeepsThemExactly(field: String) throws {
        var entry = Self.full
        switch field {
        case "client": entry.client = Self.hostile
        case "uri": entry.uri = Self.hostile
        case "user": entry.user = Self.hostile
        case "userAgent": entry.userAgent = Self.hostile
        case "route": entry.route = Self.hostile
        case "reason": entry.reason = Self.hostile
        default: entry.device = ActiveSyncDevice(id: Self.hostile, type: nil)
        }
        let line = AccessLog.line(for: entry, as: .json, at: 0)
        let bytes = Array(line.utf8)
        // ASCII only, printable, one newline at the end.
        #expect(bytes.last == 0x0A)
        #expect(bytes.dropLast().allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "\(line)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let key = ["userAgent": "user_agent", "deviceId": "device_id"][field] ?? field
        // The value round-trips exactly, and no key was added.
        #expect(object[key] as? String == Self.hostile)
        #expect(object.count == 20)
        #expect(object["client_cert_sha256"] is NSNull)
    }

    @Test func jsonEscapesControlCharactersAsRFC8259Says() {
        var buffer = ByteBuffer()
        AccessLogJSON.writeString("\u{0}\u{1F}\n\"\\é😀", to: &buffer)
        #expect(String(buffer: buffer) == #""\u0000\u001f\n\"\\\u00e9\ud83d\ude00""#)
    }

    // MARK: W3C

    @Test func w3cHeaderNamesTheFieldsInLineOrder() {
        let header = String(buffer: AccessLogW3C.header(at: 86_400 + 3_661))
        let lines = header.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0] == "#Software: Gatehouse \(GatehouseInfo.version)")
        #expect(lines[1] == "#Version: 1.0")
        #expect(lines[2] == "#Date: 1970-01-02 01:01:01")
        #expect(
            lines[3] == "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
                + "cs-version cs(User-Agent) sc-status sc-bytes cs-bytes time-taken x-route x-backend x-device-id "
                + "x-device-type x-client-cert-thumbprint x-reason")
    }

    @Test func w3cLineHasIISFieldsInOrder() {
        let line = AccessLog.line(for: Self.full, as: .w3c, at: 0)
        #expect(
            line == "1970-01-01 00:00:00 192.0.2.1 GET /Microsoft-Server-ActiveSync "
                + "Cmd=Sync&DeviceId=ABC123&DeviceType=iPhone 443 CONTOSO\\alice 192.0.2.7 HTTP/1.1 "
                + "Apple-iPhone/1+(iOS+17) 200 20600 12 8 contoso/activesync mbx01 ABC123 iPhone - -\n")
    }

    @Test func w3cWritesADashForEmptyAndAbsentFields() {
        var entry = Self.full
        entry.uri = "/owa/"
        entry.user = nil
        entry.userAgent = ""
        entry.device = nil
        entry.serverIP = nil
        let fields = AccessLog.line(for: entry, as: .w3c, at: 0).dropLast().split(separator: " ", omittingEmptySubsequences: false)
        #expect(fields.count == AccessLogW3C.fields.count)
        let named = Dictionary(uniqueKeysWithValues: zip(AccessLogW3C.fields, fields.map(String.init)))
        for name in ["s-ip", "cs-uri-query", "cs-username", "cs(User-Agent)", "x-device-id", "x-device-type", "x-reason"] {
            #expect(named[name] == "-", "\(name)")
        }
        #expect(named["cs-uri-stem"] == "/owa/")
    }

    @Test(arguments: ["client", "uri", "user", "userAgent", "route", "reason", "deviceType"])
    func w3cEscapingKeepsOneLineOfTheSameFields(field: String) {
        var entry = Self.full
        switch field {
        case "client": entry.client = Self.hostile
        case "uri": entry.uri = "/owa/" + Self.hostile
        case "user": entry.user = Self.hostile
        case "userAgent": entry.userAgent = Self.hostile
        case "route": entry.route = Self.hostile
        case "reason": entry.reason = Self.hostile
        default: entry.device = ActiveSyncDevice(id: "x", type: Self.hostile)
        }
        let line = AccessLog.line(for: entry, as: .w3c, at: 0)
        let bytes = Array(line.utf8)
        #expect(bytes.last == 0x0A)
        #expect(bytes.dropLast().allSatisfy { $0 >= 0x20 && $0 <= 0x7E && $0 != 0x22 }, "\(line)")
        #expect(line.split(separator: " ").count == AccessLogW3C.fields.count, "\(line)")
        // Space is '+', as IIS writes it; everything else that is not printable ASCII is %XX.
        #expect(line.contains("a%0D%0Ab%00c%1Bd%7Fe%22f\\g+h%C2%85i%E2%80%A8j%F0%9F%98%80k"), "\(line)")
    }
}
