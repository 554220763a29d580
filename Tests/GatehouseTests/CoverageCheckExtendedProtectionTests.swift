import Foundation
import Testing

/// `gatehouse check`'s Extended Protection comparison, on the built binary: each certificate a
/// listener serves for a service host (ECDSA and RSA) against each backend's certificate on the
/// service's NTLM routes. A mismatch is a warning, an error under `extended_protection: bridged`,
/// and nothing under `off`/`none`; a shared certificate passes.
@Suite struct CoverageCheckExtendedProtectionTests {
    typealias Check = CoverageCheckTests

    /// The fixture configuration with an EWS route (NTLM) and `extended_protection: <setting>`.
    static func yaml(_ pki: CoveragePKI, setting: String?) -> String {
        var text = pki.configuration(hosts: ["mail.contoso.lab", "autodiscover.contoso.lab"])
            .replacingOccurrences(
                of: "      - { preset: owa, pool: mailbox }",
                with: "      - { preset: ews, pool: mailbox }\n      - { preset: owa, pool: mailbox }")
        if let setting {
            text = text.replacingOccurrences(of: "    routes:", with: "    extended_protection: \(setting)\n    routes:")
        }
        return text
    }

    static func mismatches(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.contains("Extended Protection mismatch") }
    }

    @Test func differentCertificatesWarnOncePerFrontCertificateAndServerWithTheFix() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let outcome = try await Check.check(pki, Self.yaml(pki, setting: nil))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let lines = Self.mismatches(outcome.stderr)
        // mail-ecdsa (ECDSA clients) and mail-rsa (the others) against mbx1, however many listeners serve them.
        #expect(lines.count == 2, "\(outcome.stderr)")
        #expect(lines.allSatisfy { $0.contains(": warning: ") && $0.contains("server 'mbx1' of pool 'mailbox'") }, "\(lines)")
        let ecdsa = try #require(lines.first { $0.contains("'mail-ecdsa.pem'") })
        #expect(ecdsa.contains("serves ECDSA certificate") && ecdsa.contains("for mail.contoso.lab, autodiscover.contoso.lab"), "\(ecdsa)")
        #expect(ecdsa.contains("trusted certificate 'mbx01.pem'") && ecdsa.contains("on /EWS/"), "\(ecdsa)")
        #expect(!ecdsa.contains("/owa/"), "OWA uses forms logon: not an NTLM route")
        #expect(ecdsa.contains("tls-server-end-point SHA256 "))
        #expect(
            ecdsa.contains("gatehouse cert export --pfx mail.pfx --certificate certs/mail-ecdsa.pem --key certs/mail-ecdsa.key"),
            "\(ecdsa)")
        #expect(ecdsa.contains("Import-ExchangeCertificate") && ecdsa.contains("Enable-ExchangeCertificate -Services IIS"))
        #expect(outcome.stdout.contains("mailbox/mbx1 DIFFERENT (trusted certificate 'mbx01.pem')"), "\(outcome.stdout)")
    }

    @Test func bridgedMakesEachMismatchAnErrorAtTheSetting() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let yaml = Self.yaml(pki, setting: "bridged")
        let outcome = try await Check.check(pki, yaml)
        #expect(outcome.status == 1)
        let lines = Self.mismatches(outcome.stderr)
        #expect(lines.count == 2, "\(outcome.stderr)")
        let line = Check.line(of: "extended_protection:", in: yaml)
        #expect(lines.allSatisfy { $0.hasPrefix("conf/test.yaml:\(line):") && $0.contains(": error: ") }, "\(lines)")
        #expect(Check.lines("error", in: outcome.stderr).count == 2)
    }

    @Test(arguments: ["off", "none"])
    func offAndNoneSkipTheComparison(setting: String) async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let outcome = try await Check.check(pki, Self.yaml(pki, setting: setting))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(Self.mismatches(outcome.stderr).isEmpty)
        #expect(!outcome.stdout.contains("extended protection ("))
    }

    @Test func anUnknownSettingIsRefusedWithTheChoices() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let yaml = Self.yaml(pki, setting: "bridging")
        let outcome = try await Check.check(pki, yaml)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("conf/test.yaml:\(Check.line(of: "extended_protection:", in: yaml)):"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("unknown value 'bridging'") && outcome.stderr.contains("bridged"), "\(outcome.stderr)")
    }

    @Test func theSameCertificateOnBothSidesPasses() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let yaml = """
            listeners:
              - name: https
                address: 127.0.0.1:0
                tls:
                  certificates:
                    - { cert: ../certs/mail-rsa.pem, key: ../certs/mail-rsa.key }
                  default_certificate: ../certs/mail-rsa.pem
            pools:
              mailbox:
                servers:
                  - { name: mbx1, address: 127.0.0.1:9444, tls_name: mail.contoso.lab }
                  - { name: mbx2, address: 127.0.0.1:9445, tls_name: mail.contoso.lab }
                trust:
                  certificates: [../certs/mail-rsa.pem]
            services:
              - name: contoso
                hosts: [mail.contoso.lab, autodiscover.contoso.lab]
                extended_protection: bridged
                routes:
                  - { preset: mapi, pool: mailbox }
            """
        let outcome = try await Check.check(pki, yaml)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(Self.mismatches(outcome.stderr).isEmpty)
        #expect(
            outcome.stdout.contains(
                "service 'contoso' (bridged) mail.contoso.lab RSA mail-rsa.pem: mailbox/mbx1 same certificate, mailbox/mbx2 same certificate"
            ), "\(outcome.stdout)")
    }
}
