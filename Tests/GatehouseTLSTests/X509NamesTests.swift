import Foundation
import Testing

@testable import GatehouseTLS

/// Names, validity and fingerprints read from real certificates made by `openssl req`.
@Suite struct X509NamesTests {
    @Test func readsCommonNameSANsAndIPs() throws {
        let pki = try TestPKI()
        let files = try pki.selfSigned(cn: "mbx01", dns: ["mbx01", "mbx01.contoso.local"], ips: ["10.0.0.5", "::1"])
        let cert = try #require(try X509Certificate.chain(pemFile: files.certificate).first)
        #expect(cert.commonName == "mbx01")
        #expect(cert.dnsNames == ["mbx01", "mbx01.contoso.local"])
        #expect(cert.ipAddresses == ["10.0.0.5", "::1"])
        #expect(cert.subjectLine == "CN=mbx01")
        #expect(cert.covers(hostName: "MBX01.contoso.local."))
        #expect(cert.covers(hostName: "10.0.0.5"))
        #expect(cert.covers(hostName: "[0:0::1]"))
        #expect(!cert.covers(hostName: "10.0.0.6"))
        #expect(cert.covers(hostName: "mbx01.contoso.local:444"))
        #expect(cert.covers(hostName: "10.0.0.5:443"))
        #expect(cert.covers(hostName: "[::1]:443"))
        #expect(!cert.covers(hostName: "mbx01.contoso.local:x"))
        #expect(!cert.covers(hostName: "mbx02.contoso.local"))
    }

    /// The port a Host header may carry is cut off by bytes: only ASCII digits after the one colon
    /// of a name, or after the bracket of an IPv6 literal.
    @Test func strippingPortCutsOnlyADecimalPort() {
        #expect(X509Certificate.strippingPort("mail.contoso.com:443") == "mail.contoso.com")
        #expect(X509Certificate.strippingPort("mail.contoso.com") == "mail.contoso.com")
        #expect(X509Certificate.strippingPort("[::1]:443") == "[::1]")
        #expect(X509Certificate.strippingPort("[::1]") == "[::1]")
        #expect(X509Certificate.strippingPort("::1") == "::1")  // a bare IPv6 literal keeps its colons
        #expect(X509Certificate.strippingPort("mail.contoso.com:") == "mail.contoso.com:")
        #expect(X509Certificate.strippingPort("mail.contoso.com:44x") == "mail.contoso.com:44x")
        #expect(X509Certificate.strippingPort("mail.contoso.com:４４３") == "mail.contoso.com:４４３")  // fullwidth digits
        #expect(X509Certificate.strippingPort("mäil.contoso.com:443") == "mäil.contoso.com")
        #expect(X509Certificate.strippingPort("10.0.0.5:8443") == "10.0.0.5")
    }

    @Test func wildcardCoversOneLabelOnly() throws {
        let pki = try TestPKI()
        let files = try pki.selfSigned(cn: "wild", dns: ["*.contoso.com", "*.com", "f*.example.org"])
        let cert = try #require(try X509Certificate.chain(pemFile: files.certificate).first)
        #expect(cert.covers(hostName: "mail.contoso.com"))
        #expect(cert.covers(hostName: "Mail.Contoso.COM."))
        #expect(!cert.covers(hostName: "contoso.com"))
        #expect(!cert.covers(hostName: "www.eu.contoso.com"))
        #expect(!cert.covers(hostName: "contoso.org"))  // *.com is a bare-TLD wildcard: ignored
        #expect(!cert.covers(hostName: "foo.example.org"))  // partial-label wildcard: ignored
        #expect(!cert.covers(hostName: "mail.contoso.com\u{0}"))
    }

    @Test func commonNameUsedOnlyWithoutSANs() throws {
        let pki = try TestPKI()
        let noSAN = try #require(try X509Certificate.chain(pemFile: pki.selfSigned(cn: "legacy.contoso.com").certificate).first)
        #expect(noSAN.dnsNames.isEmpty)
        #expect(noSAN.covers(hostName: "legacy.contoso.com"))
        let withSAN = try #require(
            try X509Certificate.chain(
                pemFile: pki.selfSigned(cn: "cn-only.contoso.com", dns: ["san.contoso.com"]).certificate
            ).first)
        #expect(!withSAN.covers(hostName: "cn-only.contoso.com"))
        #expect(withSAN.covers(hostName: "san.contoso.com"))
    }

    @Test func validityAndFingerprintsMatchOpenSSL() throws {
        let pki = try TestPKI()
        let files = try pki.selfSigned(cn: "dates", days: 10)
        let cert = try #require(try X509Certificate.chain(pemFile: files.certificate).first)
        let now = Date()
        #expect(abs(cert.notBefore.timeIntervalSince(now)) < 300)
        #expect(abs(cert.notAfter.timeIntervalSince(now.addingTimeInterval(10 * 86400))) < 300)
        #expect(cert.isValid())
        let sha1 = try TestPKI.openssl(["x509", "-in", files.certificate, "-noout", "-fingerprint", "-sha1"])
        let sha256 = try TestPKI.openssl(["x509", "-in", files.certificate, "-noout", "-fingerprint", "-sha256"])
        func hex(_ line: String) -> String {
            String(line.split(separator: "=").last ?? "").replacingOccurrences(of: ":", with: "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(cert.sha1Thumbprint == hex(sha1))
        #expect(cert.sha256Fingerprint == hex(sha256))
        #expect(cert.sha1Thumbprint.count == 40)
        #expect(cert.sha256Fingerprint.count == 64)
    }

    @Test func subjectLineMostSpecificFirst() throws {
        let pki = try TestPKI()
        let base = pki.directory.appendingPathComponent("multi").path
        try TestPKI.openssl([
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/C=US/O=Contoso/OU=IT/CN=mail.contoso.com", "-days", "1",
            "-keyout", base + ".key", "-out", base + ".crt"
        ])
        let cert = try #require(try X509Certificate.chain(pemFile: base + ".crt").first)
        #expect(cert.subjectLine == "CN=mail.contoso.com, OU=IT, O=Contoso, C=US")
    }
}
