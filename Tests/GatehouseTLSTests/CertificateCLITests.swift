import Foundation
import GatehouseTLS
import Testing

/// The `gatehouse cert` commands, run as the built binary and checked with `openssl`.
/// Needs `swift build` first (the Makefile does it); each test works in its own temp directory.
@Suite struct CertificateCLITests {
    @Test func newSelfSignedWritesExchangeStyleCertificateAndPrivateKey() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let result = try CertificateTestTools.gatehouse([
            "cert", "new-self-signed", "--name", "mbx01",
            "--fqdn", "mbx01.contoso.lab", "--out", dir
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let text = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/mbx01.pem", "-text", "-noout"])
        #expect(text.contains("Subject: CN = mbx01"))
        #expect(text.contains("DNS:mbx01, DNS:mbx01.contoso.lab"))
        #expect(text.contains("Public-Key: (2048 bit)"))
        #expect(text.contains("sha256WithRSAEncryption"))
        #expect(try CertificateTestTools.fileMode("\(dir)/mbx01.key") == 0o600)
        // The key file is the certificate's key.
        let modulusOfKey = try CertificateTestTools.openssl(["rsa", "-in", "\(dir)/mbx01.key", "-noout", "-modulus"])
        let modulusOfCert = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/mbx01.pem", "-noout", "-modulus"])
        #expect(modulusOfKey == modulusOfCert)
    }

    @Test func demoStyleCAIssuesLeavesThatVerify() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        try CertificateTestTools.gatehouseOK([
            "cert", "new-self-signed", "--ca", "--name", "ca",
            "--subject", "CN=Contoso Lab Root CA", "--out", dir
        ])
        try CertificateTestTools.gatehouseOK([
            "cert", "issue", "--ca", dir, "--name", "mail-ecdsa",
            "--dns", "mail.contoso.lab", "--dns", "autodiscover.contoso.lab",
            "--key", "p256", "--out", dir
        ])
        try CertificateTestTools.gatehouseOK([
            "cert", "issue", "--ca", "\(dir)/ca.pem", "--name", "wildcard",
            "--dns", "*.contoso.lab", "--out", dir
        ])
        let ca = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/ca.pem", "-text", "-noout"])
        #expect(ca.contains("Subject: CN = Contoso Lab Root CA"))
        #expect(ca.contains("CA:TRUE"))
        #expect(ca.contains("Certificate Sign, CRL Sign"))
        let verified = try CertificateTestTools.openssl([
            "verify", "-CAfile", "\(dir)/ca.pem",
            "\(dir)/mail-ecdsa.pem", "\(dir)/wildcard.pem"
        ])
        #expect(verified.contains("mail-ecdsa.pem: OK"))
        #expect(verified.contains("wildcard.pem: OK"))
        let leaf = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/mail-ecdsa.pem", "-text", "-noout"])
        #expect(leaf.contains("DNS:mail.contoso.lab, DNS:autodiscover.contoso.lab"))
        #expect(leaf.contains("NIST CURVE: P-256"))
        #expect(leaf.contains("Issuer: CN = Contoso Lab Root CA"))
        #expect(try CertificateTestTools.fileMode("\(dir)/mail-ecdsa.key") == 0o600)
    }

    @Test func requestIsVerifiableAndCarriesTheNames() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let result = try CertificateTestTools.gatehouse([
            "cert", "request", "--subject", "C=US,O=Contoso,CN=mail.contoso.com",
            "--dns", "mail.contoso.com", "--dns", "autodiscover.contoso.com",
            "--out", dir
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("autodiscover.contoso.com: requested"))
        let text = try CertificateTestTools.openssl(["req", "-in", "\(dir)/mail.contoso.com.csr", "-verify", "-noout", "-text"])
        #expect(text.contains("verify OK"))
        #expect(text.contains("Subject: C = US, O = Contoso, CN = mail.contoso.com"))
        #expect(text.contains("DNS:mail.contoso.com, DNS:autodiscover.contoso.com"))
        #expect(text.contains("sha256WithRSAEncryption"))
        #expect(try CertificateTestTools.fileMode("\(dir)/mail.contoso.com.key") == 0o600)
    }

    @Test func requestWithWildcardUsesOneNameForSiblings() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        try CertificateTestTools.gatehouseOK([
            "cert", "request", "--dns", "mail.contoso.com", "--dns", "autodiscover.contoso.com",
            "--dns", "contoso.com", "--wildcard", "--key", "p256", "--name", "wild", "--out", dir
        ])
        let text = try CertificateTestTools.openssl(["req", "-in", "\(dir)/wild.csr", "-verify", "-noout", "-text"])
        #expect(text.contains("DNS:*.contoso.com, DNS:contoso.com"))
        #expect(text.contains("ecdsa-with-SHA256"))
    }

    @Test func listThumbprintsEqualOpenSSLFingerprints() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "mbx01", "--fqdn", "mbx01.contoso.lab", "--out", dir])
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "mbx02", "--key", "p256", "--out", dir])
        // A certificate without its key next to it: HasPrivateKey must be false.
        try FileManager.default.removeItem(atPath: "\(dir)/mbx02.key")
        let result = try CertificateTestTools.gatehouse(["cert", "list", "--format", "json", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        for (name, row) in zip(["mbx01", "mbx02"], rows) {
            let fingerprint = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/\(name).pem", "-noout", "-fingerprint", "-sha1"])
            // "SHA1 Fingerprint=AB:CD:..." -> "ABCD..."
            let expected = fingerprint.split(separator: "=").last.map { $0.replacingOccurrences(of: ":", with: "") }?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(row["Thumbprint"] as? String == expected)
            #expect(row["Subject"] as? String == "CN=\(name)")
            #expect(row["IsSelfSigned"] as? Bool == true)
            #expect(row["Status"] as? String == "Valid")
        }
        #expect(rows[0]["HasPrivateKey"] as? Bool == true)
        #expect(rows[1]["HasPrivateKey"] as? Bool == false)
        #expect(rows[0]["CertificateDomains"] as? [String] == ["mbx01", "mbx01.contoso.lab"])
        #expect(rows[0]["PublicKeySize"] as? Int == 2048)
        #expect(rows[1]["PublicKeySize"] as? Int == 256)

        let table = try CertificateTestTools.gatehouse(["cert", "list", "\(dir)/mbx01.pem"])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("Thumbprint") == true)
        #expect(lines.last?.contains("mbx01,mbx01.contoso.lab") == true)
    }

    @Test func listMatchesKeysGivenOnTheCommandLine() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "mbx01", "--key", "p256", "--out", dir])
        // The key moves away under another name: only naming it on the command line pairs it again.
        try FileManager.default.moveItem(atPath: "\(dir)/mbx01.key", toPath: "\(dir)/server-key.pem")
        let alone = try CertificateTestTools.gatehouse(["cert", "list", "--format", "json", "\(dir)/mbx01.pem"])
        #expect(alone.stdout.contains("\"HasPrivateKey\" : false"))
        let paired = try CertificateTestTools.gatehouse(["cert", "list", "--format", "json", "\(dir)/mbx01.pem", "\(dir)/server-key.pem"])
        #expect(paired.status == 0, "\(paired.stderr)")
        #expect(paired.stdout.contains("\"HasPrivateKey\" : true"))
    }

    @Test func listReportsEachStatus() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "soon", "--days", "10", "--out", dir])
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "fine", "--days", "31", "--out", dir])
        // gatehouse cannot back-date a certificate (on purpose); openssl ca can.
        let pki = try TestPKI()
        let old = try pki.selfSignedWindow(cn: "old", dns: ["old.contoso.lab"], start: "20200101000000Z", end: "20210101000000Z")
        let future = try pki.selfSignedWindow(
            cn: "future", dns: ["future.contoso.lab"],
            start: "20400101000000Z", end: "20410101000000Z")
        let result = try CertificateTestTools.gatehouse([
            "cert", "list", "--format", "json", "\(dir)/soon.pem",
            "\(dir)/fine.pem", old.certificate, future.certificate
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["Status"] as? String } == ["ExpiresSoon", "Valid", "Expired", "NotYetValid"])
        #expect(rows[2]["NotAfter"] as? String == "2021-01-01T00:00:00Z")
        #expect(rows[2]["HasPrivateKey"] as? Bool == true)  // old-window-N.key sits next to old-window-N.crt
    }

    @Test func refusesToOverwriteWithoutForce() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "mbx01", "--out", dir])
        let before = try String(contentsOfFile: "\(dir)/mbx01.key", encoding: .utf8)
        let again = try CertificateTestTools.gatehouse(["cert", "new-self-signed", "--name", "mbx01", "--out", dir])
        #expect(again.status != 0)
        #expect(again.stderr.contains("\(dir)/mbx01"))
        #expect(try String(contentsOfFile: "\(dir)/mbx01.key", encoding: .utf8) == before)
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "mbx01", "--out", dir, "--force"])
        #expect(try String(contentsOfFile: "\(dir)/mbx01.key", encoding: .utf8) != before)
        #expect(try CertificateTestTools.fileMode("\(dir)/mbx01.key") == 0o600)
    }

    /// Each bad input gives exactly one line on standard error naming the file or flag, and exit status 1.
    @Test func badInputGivesOneLineErrorNamingTheFile() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--ca", "--name", "ca", "--subject", "CN=Lab CA", "--out", dir])
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "mbx01", "--out", dir])
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "mbx02", "--out", dir])
        try "this is not a certificate\n".write(toFile: "\(dir)/garbage.pem", atomically: true, encoding: .utf8)
        try CertificateTestTools.openssl(["x509", "-in", "\(dir)/mbx01.pem", "-outform", "der", "-out", "\(dir)/binary.pem"])
        try CertificateTestTools.openssl(["genpkey", "-algorithm", "ed25519", "-out", "\(dir)/ed25519.key"])
        try CertificateTestTools.openssl([
            "pkey", "-in", "\(dir)/mbx01.key", "-aes256", "-passout", "pass:secret",
            "-out", "\(dir)/locked.key"
        ])
        try CertificateTestTools.gatehouseOK(["cert", "request", "--dns", "req.contoso.lab", "--name", "req", "--out", dir])
        // A certificate whose neighbouring key belongs to another certificate.
        try FileManager.default.copyItem(atPath: "\(dir)/mbx01.pem", toPath: "\(dir)/mixed.pem")
        try FileManager.default.copyItem(atPath: "\(dir)/mbx02.key", toPath: "\(dir)/mixed.key")
        // A CA whose key belongs to something else.
        try FileManager.default.createDirectory(atPath: "\(dir)/badca", withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: "\(dir)/ca.pem", toPath: "\(dir)/badca/ca.pem")
        try FileManager.default.copyItem(atPath: "\(dir)/mbx02.key", toPath: "\(dir)/badca/ca.key")

        let cases: [(arguments: [String], mustMention: [String])] = [
            (["cert", "list", "\(dir)/garbage.pem"], ["\(dir)/garbage.pem", "no PEM certificate"]),
            (["cert", "list", "\(dir)/binary.pem"], ["\(dir)/binary.pem", "DER"]),
            (["cert", "list", "\(dir)/mbx01.pem", "\(dir)/ed25519.key"], ["\(dir)/ed25519.key", "unsupported key type"]),
            (["cert", "list", "\(dir)/mbx01.pem", "\(dir)/locked.key"], ["\(dir)/locked.key", "password-protected"]),
            (["cert", "list", "\(dir)/mixed.pem"], ["\(dir)/mixed.key", "does not match", "\(dir)/mixed.pem"]),
            (["cert", "list", "\(dir)/mbx01.pem", "\(dir)/mbx02.key"], ["\(dir)/mbx02.key", "matches none"]),
            (
                ["cert", "issue", "--ca", "\(dir)/badca", "--name", "x", "--dns", "x.contoso.lab", "--out", dir],
                ["\(dir)/badca/ca.key", "does not match"]
            ),
            (
                ["cert", "issue", "--ca", "\(dir)/mbx01.pem", "--name", "x", "--dns", "x.contoso.lab", "--out", dir],
                ["\(dir)/mbx01.pem", "not a CA"]
            ),
            (
                ["cert", "issue", "--ca", "\(dir)/garbage.pem", "--name", "x", "--dns", "x.contoso.lab", "--out", dir],
                ["\(dir)/garbage.pem"]
            ),
            (["cert", "new-self-signed", "--name", "mbx_03", "--out", dir], ["--name", "mbx_03", "'_'"]),
            (["cert", "new-self-signed", "--name", "mbx03", "--fqdn", "mbx03..contoso.lab", "--out", dir], ["--fqdn", "empty label"]),
            (["cert", "issue", "--ca", dir, "--name", "x", "--dns", "bad name.contoso.lab", "--out", dir], ["--dns", "' '"]),
            (
                ["cert", "issue", "--ca", dir, "--name", "x", "--dns", "x.contoso.lab", "--subject", "CN=x_y", "--out", dir],
                ["--subject CN", "x_y"]
            ),
            (["cert", "request", "--dns", "*.com", "--out", dir], ["--dns", "*.com", "top-level"]),
            (
                ["cert", "request", "--dns", "mail.contoso.com", "--subject", "X=1,CN=mail.contoso.com", "--out", dir],
                ["--subject", "unknown attribute"]
            ),
            (["cert", "new-self-signed", "--name", "m", "--out", "\(dir)/missing"], ["\(dir)/missing"]),
            (["cert", "new-self-signed", "--name", "m", "--days", "0", "--out", dir], ["--days", "0 days"]),
            (["cert", "list", "\(dir)/req.csr"], ["\(dir)/req.csr", "certificate request"])
        ]
        for testCase in cases {
            let result = try CertificateTestTools.gatehouse(testCase.arguments)
            let command = testCase.arguments.joined(separator: " ")
            #expect(result.status == 1, "exit status for: \(command)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "one error line for: \(command), got: \(result.stderr)")
            for fragment in testCase.mustMention {
                #expect(result.stderr.contains(fragment), "\(command): \(result.stderr) should mention \(fragment)")
            }
        }
        // Nothing was written by the failed commands.
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.pem"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.key"))
    }

    /// A small configuration: one TLS listener with two certificates, a redirect listener, a pool
    /// trusting mbx01's self-signed certificate, and two services with four host names.
    private func writeConfiguration(in dir: String) throws -> String {
        try CertificateTestTools.gatehouseOK([
            "cert", "new-self-signed", "--name", "mbx01", "--fqdn", "mbx01.contoso.lab",
            "--key", "p256", "--out", dir
        ])
        try CertificateTestTools.gatehouseOK([
            "cert", "new-self-signed", "--name", "front", "--dns", "mail.contoso.lab",
            "--key", "p256", "--out", dir
        ])
        try CertificateTestTools.gatehouseOK(["cert", "new-self-signed", "--name", "spare", "--key", "p256", "--out", dir])
        let yaml = """
            listeners:
              - name: https
                address: 127.0.0.1:0
                tls:
                  certificates:
                    - { cert: front.pem, key: front.key }
                    - { cert: spare.pem, key: spare.key }
              - name: http
                address: 127.0.0.1:0
                redirect_to_https: 443
            pools:
              mailbox:
                servers:
                  - { name: mbx01, address: "127.0.0.1:9444", tls_name: mbx01.contoso.lab }
                trust:
                  certificates: [mbx01.pem]
            services:
              - name: mail
                hosts: [mail.contoso.lab, autodiscover.contoso.lab]
                routes:
                  - { preset: owa, pool: mailbox }
              - name: legacy
                hosts: [owa.contoso.lab, contoso.lab]
                routes:
                  - { preset: ews, pool: mailbox }
            """
        let path = "\(dir)/gatehouse.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func requestFromConfigurationCoversEveryServedHostName() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let config = try writeConfiguration(in: dir)
        let plain = try CertificateTestTools.gatehouse([
            "cert", "request", "--config", config, "--listener", "https",
            "--name", "plain", "--key", "p256", "--out", dir
        ])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("owa.contoso.lab: served by listener https for service legacy"))
        let text = try CertificateTestTools.openssl(["req", "-in", "\(dir)/plain.csr", "-verify", "-noout", "-text"])
        #expect(text.contains("DNS:mail.contoso.lab, DNS:autodiscover.contoso.lab, DNS:owa.contoso.lab, DNS:contoso.lab"))

        // With --wildcard the three siblings become one name; the bare parent stays. The only TLS
        // listener is chosen without --listener.
        let wild = try CertificateTestTools.gatehouse([
            "cert", "request", "--config", config, "--wildcard",
            "--name", "wild", "--key", "p256", "--out", dir
        ])
        #expect(wild.status == 0, "\(wild.stderr)")
        #expect(wild.stdout.contains("*.contoso.lab: wildcard covering mail.contoso.lab"))
        let wildText = try CertificateTestTools.openssl(["req", "-in", "\(dir)/wild.csr", "-verify", "-noout", "-text"])
        #expect(wildText.contains("DNS:*.contoso.lab, DNS:contoso.lab"))

        // A redirect-only listener serves no certificate.
        let wrong = try CertificateTestTools.gatehouse(["cert", "request", "--config", config, "--listener", "http", "--out", dir])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("--listener http"))
    }

    @Test func listWithConfigurationShowsServices() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let config = try writeConfiguration(in: dir)
        let result = try CertificateTestTools.gatehouse(["cert", "list", "--config", config, "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        var services: [String: [String]] = [:]
        for row in rows {
            let file = URL(fileURLWithPath: row["File"] as? String ?? "").lastPathComponent
            services[file] = row["Services"] as? [String]
        }
        #expect(
            services == [
                "front.pem": ["listener https (default)"], "spare.pem": ["listener https"],
                "mbx01.pem": ["pool mailbox (trusted backend certificate)"]
            ])
        #expect(rows.allSatisfy { $0["HasPrivateKey"] as? Bool == true })
    }

    @Test func demoPKIScriptMakesTheContractFilesOnce() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let script = CertificateTestTools.packageRoot.appendingPathComponent("certs-example/make-demo-pki.sh").path
        _ = try CertificateTestTools.gatehouse(["--help"])  // fails clearly if the binary is missing
        let first = try CertificateTestTools.run("/bin/sh", [script, CertificateTestTools.gatehouseBinary, dir])
        #expect(first.status == 0, "\(first.stderr)")
        let names = [
            "ca", "mail-rsa", "mail-ecdsa", "wildcard", "mbx01", "mbx02",
            "contoso-com-rsa", "contoso-com-ecdsa", "exch01", "exch02"
        ]
        let expected = Set(names.flatMap { ["\($0).pem", "\($0).key"] })
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == expected)
        for name in names {
            #expect(try CertificateTestTools.fileMode("\(dir)/\(name).key") == 0o600)
        }
        let verify = try CertificateTestTools.openssl([
            "verify", "-CAfile", "\(dir)/ca.pem", "\(dir)/mail-rsa.pem",
            "\(dir)/mail-ecdsa.pem", "\(dir)/wildcard.pem"
        ])
        #expect(verify.components(separatedBy: ": OK").count == 4)
        let ca = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/ca.pem", "-noout", "-subject"])
        #expect(ca.contains("CN = Contoso Lab Root CA"))
        let wildcard = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/wildcard.pem", "-noout", "-ext", "subjectAltName"])
        #expect(wildcard.contains("DNS:*.contoso.lab"))
        let mbx = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/mbx02.pem", "-noout", "-subject", "-ext", "subjectAltName"])
        #expect(mbx.contains("CN = mbx02") && mbx.contains("DNS:mbx02, DNS:mbx02.contoso.lab"))
        let ecdsa = try CertificateTestTools.openssl(["x509", "-in", "\(dir)/mail-ecdsa.pem", "-noout", "-text"])
        #expect(ecdsa.contains("NIST CURVE: P-256") && ecdsa.contains("DNS:mail.contoso.lab, DNS:autodiscover.contoso.lab"))

        // A second run changes nothing.
        let before = try names.map { try String(contentsOfFile: "\(dir)/\($0).key", encoding: .utf8) }
        let second = try CertificateTestTools.run("/bin/sh", [script, CertificateTestTools.gatehouseBinary, dir])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try names.map { try String(contentsOfFile: "\(dir)/\($0).key", encoding: .utf8) } == before)
    }

    @Test func helpDocumentsTheFlags() throws {
        let result = try CertificateTestTools.gatehouse(["cert", "new-self-signed", "--help"])
        #expect(result.status == 0)
        for flag in ["--name", "--fqdn", "--key", "--days", "--ca", "--out", "--force", "rsa2048", "p256"] {
            #expect(result.stdout.contains(flag), "help should mention \(flag)")
        }
    }
}

/// Running the built `gatehouse` binary and `/usr/bin/openssl` with a time bound, and temp files.
enum CertificateTestTools {
    /// The package root, found from this file's path (Tests/GatehouseTLSTests/<file>).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The debug binary built by `swift build`.
    static var gatehouseBinary: String { packageRoot.appendingPathComponent(".build/debug/gatehouse").path }

    /// Runs `gatehouse` with `arguments`; fails clearly when the binary has not been built.
    static func gatehouse(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: gatehouseBinary) else {
            throw CertificateTestFailure("\(gatehouseBinary) is missing: run `swift build` before `swift test`")
        }
        return try run(gatehouseBinary, arguments)
    }

    /// Runs `gatehouse` and throws with its error output unless it exits 0.
    static func gatehouseOK(_ arguments: [String]) throws {
        let result = try gatehouse(arguments)
        if result.status != 0 {
            throw CertificateTestFailure("gatehouse \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
    }

    /// Runs `/usr/bin/openssl`; returns stdout and stderr together (verify prints "OK" on stdout,
    /// `req -verify` prints on stderr). Throws on a non-zero exit unless `allowFailure`.
    @discardableResult
    static func openssl(_ arguments: [String], allowFailure: Bool = false) throws -> String {
        let result = try run("/usr/bin/openssl", arguments)
        if result.status != 0 && !allowFailure {
            throw CertificateTestFailure("openssl \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
        return result.stdout + result.stderr
    }

    /// Runs a program bounded to 60 seconds, collecting stdout and stderr separately.
    static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let scratch = FileManager.default.temporaryDirectory
        let outURL = scratch.appendingPathComponent("gh-cert-out-\(UUID().uuidString)")
        let errURL = scratch.appendingPathComponent("gh-cert-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        // Files rather than pipes: a chatty child can never block on a full pipe.
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? outHandle.close()
        try? errHandle.close()
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return (process.terminationStatus, stdout, stderr)
    }

    /// A fresh private temp directory.
    static func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gh-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return url.path
    }

    /// Removes a temp directory made by `temporaryDirectory()`.
    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The permission bits of a file (e.g. 0o600).
    static func fileMode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
    }
}

/// A test set-up failure with a readable message.
struct CertificateTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
