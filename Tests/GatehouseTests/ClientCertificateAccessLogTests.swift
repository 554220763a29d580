import Foundation
import Testing

@testable import Gatehouse

/// The verified client certificate in each access-log format: the thumbprint everywhere, the
/// subject in JSON; nothing without one.
@Suite struct ClientCertificateAccessLogTests {
    static let thumbprint = String(repeating: "0F", count: 32)

    static var entry: AccessLog.Entry {
        var entry = AccessLogFormatTests.full
        entry.clientCertificateSHA256 = thumbprint
        entry.clientCertificateSubject = "CN=alice\\, jr,O=Contoso"
        return entry
    }

    @Test func jsonHasThumbprintAndSubject() throws {
        let line = AccessLog.line(for: Self.entry, as: .json, at: 0)
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["client_cert_sha256"] as? String == Self.thumbprint)
        #expect(object["client_cert_subject"] as? String == "CN=alice\\, jr,O=Contoso")
    }

    @Test func textHasTheCertToken() {
        let line = AccessLog.line(for: Self.entry, as: .text, at: 0)
        #expect(line.contains(" backend=mbx01 cert=\(Self.thumbprint)\n"))
        #expect(!AccessLog.line(for: AccessLogFormatTests.full, as: .text, at: 0).contains("cert="))
    }

    @Test func w3cHasTheThumbprintField() {
        let fields = AccessLog.line(for: Self.entry, as: .w3c, at: 0).dropLast().split(separator: " ", omittingEmptySubsequences: false)
        let named = Dictionary(uniqueKeysWithValues: zip(AccessLogW3C.fields, fields.map(String.init)))
        #expect(named["x-client-cert-thumbprint"] == Self.thumbprint)
    }
}
