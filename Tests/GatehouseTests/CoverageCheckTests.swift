import Foundation
import Testing

/// `gatehouse check`'s certificate coverage, run on the built binary against certificates made
/// with openssl at test time: which certificate serves each host name (exact or wildcard, ECDSA and
/// RSA), and every certificate problem reported exactly once, at the line of the configuration file
/// that causes it, with a fix.
@Suite struct CoverageCheckTests {
    /// The diagnostics of one severity ("error" or "warning") among standard-error lines.
    static func lines(_ severity: String, in stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.contains(": \(severity): ") }
    }

    /// The 1-based number of the first line of `yaml` containing `text`.
    static func line(of text: String, in yaml: String) -> Int {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        return (lines.firstIndex { $0.contains(text) } ?? -1) + 1
    }

    /// Runs `gatehouse check --config conf/test.yaml` in the fixture.
    static func check(_ fixture: CoveragePKI, _ yaml: String) async throws -> CLITests.Outcome {
        try Data(yaml.utf8).write(to: fixture.root.appendingPathComponent("conf/test.yaml"))
        return try await CLITests.run(try CLITests.binary(), ["check", "--config", "conf/test.yaml"], in: fixture.root)
    }

    @Test func allNamesCoveredShowsExactAndWildcardAndExitsZero() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let outcome = try await Self.check(pki, pki.configuration())
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(Self.lines("error", in: outcome.stderr).isEmpty, "\(outcome.stderr)")
        #expect(Self.lines("warning", in: outcome.stderr).isEmpty, "\(outcome.stderr)")
        #expect(outcome.stdout.hasPrefix("conf/test.yaml: OK (0 warnings)"))
        let rows = outcome.stdout.split(separator: "\n").map(String.init)
        // Both listeners, each with all three names.
        #expect(rows.contains("  listener 'https'") && rows.contains("  listener 'https-alt'"))
        let mail = rows.filter { $0.hasPrefix("    mail.contoso.lab ") }
        #expect(mail.count == 2)
        #expect(
            mail.allSatisfy {
                $0.contains(" exact ") && $0.contains("ECDSA mail-ecdsa.pem, RSA mail-rsa.pem") && $0.contains("valid until")
            },
            "\(mail)")
        let owa = rows.filter { $0.hasPrefix("    owa.contoso.lab ") }
        #expect(owa.count == 2)
        #expect(owa.allSatisfy { $0.contains(" wildcard ") && $0.contains("ECDSA wildcard.pem (*.contoso.lab)") }, "\(owa)")
        #expect(rows.contains { $0.contains("mailbox/mbx1 ") && $0.contains("mbx01.contoso.lab") && $0.contains("covered by mbx01.pem") })
    }

    @Test func missingNameIsOneErrorNamingTheHostAndBothListeners() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let yaml = pki.configuration(hosts: ["mail.contoso.lab", "owa.contoso.lab", "extra.fabrikam.lab"])
        let outcome = try await Self.check(pki, yaml)
        #expect(outcome.status == 1)
        let errors = Self.lines("error", in: outcome.stderr)
        #expect(errors.count == 1, "\(outcome.stderr)")
        #expect(Self.lines("warning", in: outcome.stderr).isEmpty, "\(outcome.stderr)")
        let error = try #require(errors.first)
        #expect(error.hasPrefix("conf/test.yaml:\(Self.line(of: "hosts:", in: yaml)):"), "\(error)")
        #expect(error.contains("host name 'extra.fabrikam.lab' of service 'contoso' is not covered by any certificate"))
        #expect(error.contains("listeners 'https', 'https-alt'"))
        #expect(error.contains("add extra.fabrikam.lab to the certificate's SANs: gatehouse cert request --config conf/test.yaml"))
        // The summary still shows what would be served, and says the check failed.
        #expect(outcome.stdout.hasPrefix("conf/test.yaml: 1 error, 0 warnings"))
        #expect(
            outcome.stdout.split(separator: "\n").contains {
                $0.hasPrefix("    extra.fabrikam.lab") && $0.contains("NONE") && $0.contains("does not cover it")
            })
    }

    @Test func missingNameWithStrictSNIIsOneErrorSayingTheHandshakeIsRefused() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let yaml = pki.configuration(hosts: ["mail.contoso.lab", "extra.fabrikam.lab"])
            .replacingOccurrences(of: "default_certificate: ../certs/mail-rsa.pem", with: "strict_sni: true")
        let outcome = try await Self.check(pki, yaml)
        #expect(outcome.status == 1)
        let errors = Self.lines("error", in: outcome.stderr)
        #expect(errors.count == 1, "\(outcome.stderr)")
        #expect(
            errors.first?.contains("'extra.fabrikam.lab'") == true && errors.first?.contains("strict_sni refuses the handshake") == true,
            "\(errors)")
        #expect(
            outcome.stdout.split(separator: "\n").contains {
                $0.hasPrefix("    extra.fabrikam.lab") && $0.contains("handshake refused (strict_sni)")
            })
    }

    @Test func expiredAndNotYetValidAreErrorsAndExpiringSoonIsAWarning() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        // Replace the wildcard with an expired one and the mail pair with ones ending in 10 days.
        try await pki.window("wildcard", dns: ["*.contoso.lab"], start: "20200101000000Z", end: "20210101000000Z")
        try await pki.selfSigned("mail-ecdsa", dns: ["mail.contoso.lab", "autodiscover.contoso.lab"], days: 10)
        try await pki.window("future", dns: ["future.fabrikam.lab"], start: "20400101000000Z", end: "20410101000000Z")
        let yaml = pki.configuration(
            hosts: ["mail.contoso.lab", "owa.contoso.lab", "future.fabrikam.lab"], extraCertificates: ["future"])
        let outcome = try await Self.check(pki, yaml)
        #expect(outcome.status == 1)
        let errors = Self.lines("error", in: outcome.stderr)
        let warnings = Self.lines("warning", in: outcome.stderr)
        #expect(errors.count == 2, "\(outcome.stderr)")
        #expect(warnings.count == 1, "\(outcome.stderr)")
        // Reported once each although two listeners serve them, at the first listener's cert entry.
        let expired = errors.filter { $0.contains("certs/wildcard.pem") }
        #expect(expired.count == 1)
        #expect(expired.first?.hasPrefix("conf/test.yaml:\(Self.line(of: "wildcard.pem", in: yaml)):") == true, "\(expired)")
        #expect(expired.first?.contains("expired on 2021-01-01") == true, "\(expired)")
        #expect(expired.first?.contains("renew it: gatehouse cert request --config conf/test.yaml --listener https") == true)
        #expect(errors.contains { $0.contains("certs/future.pem") && $0.contains("is not valid before 2040-01-01") }, "\(errors)")
        let soon = try #require(warnings.first)
        #expect(soon.hasPrefix("conf/test.yaml:\(Self.line(of: "mail-ecdsa.pem", in: yaml)):"), "\(soon)")
        #expect(soon.contains("certs/mail-ecdsa.pem") && soon.contains("in 10 days"), "\(soon)")
        let rows = outcome.stdout.split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("    owa.contoso.lab") && $0.contains("EXPIRED 2021-01-01") })
        #expect(rows.contains { $0.hasPrefix("    mail.contoso.lab") && $0.contains("EXPIRES") && $0.contains("(in 10 days)") })
    }

    @Test func poolTrustNotCoveringTheTLSNameIsOneError() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let yaml = pki.configuration(servers: ["mbx01.contoso.lab", "mbx09.contoso.lab"])
        let outcome = try await Self.check(pki, yaml)
        #expect(outcome.status == 1)
        let errors = Self.lines("error", in: outcome.stderr)
        #expect(errors.count == 1, "\(outcome.stderr)")
        let error = try #require(errors.first)
        #expect(error.hasPrefix("conf/test.yaml:\(Self.line(of: "tls_name: mbx09", in: yaml)):"), "\(error)")
        #expect(error.contains("trusted certificate does not match the backend's TLS name"))
        #expect(error.contains("tls_name 'mbx09.contoso.lab' of server 'mbx2'") && error.contains("pool 'mailbox'"), "\(error)")
        #expect(outcome.stdout.contains("mbx09.contoso.lab  NOT COVERED"))
    }

    @Test func worldReadableKeyIsOneWarning() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: pki.path("certs/mail-rsa.key"))
        let yaml = pki.configuration()
        let outcome = try await Self.check(pki, yaml)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let warnings = Self.lines("warning", in: outcome.stderr)
        #expect(warnings.count == 1, "\(outcome.stderr)")
        let warning = try #require(warnings.first)
        #expect(warning.hasPrefix("conf/test.yaml:\(Self.line(of: "mail-rsa.key", in: yaml)):"), "\(warning)")
        #expect(warning.contains("private key file 'certs/mail-rsa.key' is readable by everyone (mode 644)"))
        #expect(warning.contains("chmod 600 certs/mail-rsa.key"))
        #expect(outcome.stdout.hasPrefix("conf/test.yaml: OK (1 warning)"))
    }

    @Test func keyNotMatchingItsCertificateIsOneError() async throws {
        let pki = try CoveragePKI()
        defer { pki.remove() }
        try await pki.standardCertificates()
        let yaml = pki.configuration().replacingOccurrences(of: "key: ../certs/mail-rsa.key", with: "key: ../certs/wildcard.key")
        let outcome = try await Self.check(pki, yaml)
        #expect(outcome.status == 1)
        let errors = Self.lines("error", in: outcome.stderr)
        #expect(errors.count == 1, "\(outcome.stderr)")
        #expect(
            errors.first?.contains("the private key 'certs/wildcard.key' does not match certificate 'certs/mail-rsa.pem'") == true,
            "\(errors)")
    }
}

/// A fixture folder (conf/ and certs/) with certificates made by /usr/bin/openssl.
struct CoveragePKI {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-coverage-\(UUID().uuidString)")
        for folder in ["conf", "certs"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
    }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    func remove() { try? FileManager.default.removeItem(at: root) }

    /// mail-ecdsa (P-256) and mail-rsa (RSA 2048) for mail + autodiscover, wildcard (*.contoso.lab),
    /// and the backend certificate mbx01; all valid for a year.
    func standardCertificates() async throws {
        try await selfSigned("mail-ecdsa", dns: ["mail.contoso.lab", "autodiscover.contoso.lab"])
        try await selfSigned("mail-rsa", dns: ["mail.contoso.lab", "autodiscover.contoso.lab"], rsa: true)
        try await selfSigned("wildcard", dns: ["*.contoso.lab"])
        try await selfSigned("mbx01", dns: ["mbx01", "mbx01.contoso.lab"])
    }

    /// Two TLS listeners serving the same certificates, one service, one pool trusting mbx01.pem.
    func configuration(
        hosts: [String] = ["mail.contoso.lab", "autodiscover.contoso.lab", "owa.contoso.lab"],
        servers: [String] = ["mbx01.contoso.lab"], extraCertificates: [String] = []
    ) -> String {
        let names = ["mail-ecdsa", "mail-rsa", "wildcard"] + extraCertificates
        let entries = names.map { "        - { cert: ../certs/\($0).pem, key: ../certs/\($0).key }" }.joined(separator: "\n")
        let listeners = ["https", "https-alt"].map { name in
            """
              - name: \(name)
                address: 127.0.0.1:0
                tls:
                  certificates:
            \(entries)
                  default_certificate: ../certs/mail-rsa.pem
            """
        }.joined(separator: "\n")
        let serverLines = servers.enumerated().map { index, name in
            "      - { name: mbx\(index + 1), address: 127.0.0.1:\(9444 + index), tls_name: \(name) }"
        }.joined(separator: "\n")
        return """
            listeners:
            \(listeners)
            pools:
              mailbox:
                servers:
            \(serverLines)
                trust:
                  certificates: [../certs/mbx01.pem]
            services:
              - name: contoso
                hosts: [\(hosts.joined(separator: ", "))]
                routes:
                  - { preset: owa, pool: mailbox }
            """
    }

    /// certs/<name>.pem + .key: a self-signed end-entity certificate valid for `days` from now.
    func selfSigned(_ name: String, dns: [String], days: Int = 365, rsa: Bool = false) async throws {
        let key = rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        try await openssl(
            ["req", "-x509", "-nodes"] + key + [
                "-days", "\(days)", "-subj", "/CN=\(dns[0])", "-keyout", "certs/\(name).key", "-out", "certs/\(name).pem",
                "-addext", "subjectAltName=" + dns.map { "DNS:\($0)" }.joined(separator: ","),
                "-addext", "basicConstraints=critical,CA:FALSE"
            ])
    }

    /// certs/<name>.pem + .key with an explicit validity window (YYYYMMDDHHMMSSZ), for expired and
    /// not-yet-valid certificates: `openssl ca -selfsign` is the 3.0 command line's way to set both
    /// dates (the approach of Tests/GatehouseTLSTests/TestPKI.swift).
    func window(_ name: String, dns: [String], start: String, end: String) async throws {
        let ca = "certs/\(name).ca"
        try FileManager.default.createDirectory(atPath: path(ca), withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: path("\(ca)/index.txt")))
        try Data("01\n".utf8).write(to: URL(fileURLWithPath: path("\(ca)/serial")))
        let config = """
            [ ca ]
            default_ca = test
            [ test ]
            dir = \(path(ca))
            database = $dir/index.txt
            serial = $dir/serial
            new_certs_dir = $dir
            default_md = sha256
            policy = anything
            copy_extensions = copy
            unique_subject = no
            [ anything ]
            commonName = supplied
            [ req ]
            distinguished_name = dn
            [ dn ]
            [ ext ]
            basicConstraints = critical,CA:FALSE
            subjectAltName = \(dns.map { "DNS:\($0)" }.joined(separator: ","))
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: path("\(ca)/ca.cnf")))
        try await openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj", "/CN=\(dns[0])",
            "-keyout", "certs/\(name).key", "-out", "\(ca)/request.csr", "-config", "\(ca)/ca.cnf"
        ])
        try await openssl([
            "ca", "-batch", "-selfsign", "-config", "\(ca)/ca.cnf", "-keyfile", "certs/\(name).key",
            "-in", "\(ca)/request.csr", "-out", "certs/\(name).pem", "-startdate", start, "-enddate", end,
            "-extensions", "ext", "-notext"
        ])
    }

    private func openssl(_ arguments: [String]) async throws {
        let result = try await CLITests.run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments, in: root, timeout: 30)
        guard result.status == 0 else { throw CLITestError("openssl \(arguments.prefix(2).joined(separator: " ")): \(result.stderr)") }
    }
}
