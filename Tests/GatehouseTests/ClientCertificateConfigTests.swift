import Foundation
import Testing

@testable import Gatehouse

/// `tls.client_certificates` and a route's `client_certificate`: accepted when right, refused at
/// the line with a hint when not.
@Suite struct ClientCertificateConfigTests {
    /// The minimal configuration with `old` replaced by `new` (which must occur).
    private func edit(_ old: String, _ new: String, in yaml: String = ConfigFixture.minimal) -> String {
        precondition(yaml.contains(old), "fixture lacks \(old)")
        return yaml.replacingOccurrences(of: old, with: new)
    }

    /// The minimal configuration with a `client_certificates` block under the listener's `tls:`.
    private func withBlock(_ block: String) -> String {
        edit(
            "        - { cert: ../certs/mail.pem, key: ../certs/mail.key }\n",
            "        - { cert: ../certs/mail.pem, key: ../certs/mail.key }\n      client_certificates: \(block)\n")
    }

    /// A fixture whose certs/ca.pem is a real CA certificate (and certs/leaf.pem a non-CA one).
    private func fixtureWithCA() throws -> ConfigFixture {
        let fixture = try ConfigFixture()
        let certs = fixture.path("certs")
        try openssl([
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=Test Device CA", "-days", "2", "-keyout", certs + "/ca.key", "-out", certs + "/ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE"
        ])
        try openssl([
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=not a ca", "-days", "2", "-keyout", certs + "/leaf.key", "-out", certs + "/leaf.pem",
            "-addext", "basicConstraints=critical,CA:FALSE"
        ])
        return fixture
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test func optionalAndRequiredBlocksLoad() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        for mode in ["optional", "required"] {
            let (config, warnings) = try fixture.load(withBlock("{ mode: \(mode), ca: ../certs/ca.pem }"))
            #expect(warnings.isEmpty, "\(warnings)")
            let block = try #require(config.listeners.first?.tls?.clientCertificates)
            #expect(block.mode.rawValue == mode)
            #expect(block.caFile == fixture.path("certs/ca.pem"))
        }
        let (plain, _) = try fixture.load(ConfigFixture.minimal)
        #expect(plain.listeners.first?.tls?.clientCertificates == nil)
    }

    @Test func unknownModeIsRefusedAtItsLine() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        let errors = try fixture.errors(withBlock("{ mode: requird, ca: ../certs/ca.pem }"))
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.line == 7)
        #expect(error.message.contains("unknown value 'requird'"))
        #expect(error.hint == "did you mean 'required'?")
    }

    @Test func missingModeOrCAIsRefused() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        let noMode = try fixture.errors(withBlock("{ ca: ../certs/ca.pem }"))
        #expect(noMode.count == 1 && noMode[0].message.contains("missing key 'mode'"), "\(noMode)")
        let noCA = try fixture.errors(withBlock("{ mode: optional }"))
        #expect(noCA.count == 1 && noCA[0].message.contains("missing key 'ca'"), "\(noCA)")
    }

    @Test func unreadableOrMissingCAFileIsRefused() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        let missing = try fixture.errors(withBlock("{ mode: optional, ca: ../certs/nope.pem }"))
        #expect(missing.count == 1 && missing[0].message.contains("does not exist"), "\(missing)")
        #expect(missing.first?.line == 7)
        try Data().write(to: URL(fileURLWithPath: fixture.path("certs/empty.pem")))
        let empty = try fixture.errors(withBlock("{ mode: optional, ca: ../certs/empty.pem }"))
        #expect(empty.count == 1 && empty[0].message.contains("holds no usable certificate"), "\(empty)")
        #expect(empty.first?.hint?.contains("BEGIN CERTIFICATE") == true)
    }

    @Test func caFileWithoutCertificatesIsRefused() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        // The fixture's placeholder files hold text but no certificate; a key file holds none either.
        let errors = try fixture.errors(withBlock("{ mode: required, ca: ../certs/mail.pem }"))
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.message.contains("'ca' in") == true)
        #expect(errors.first?.message.contains("no PEM certificate found") == true)
        #expect(errors.first?.description.hasPrefix("\(fixture.path("conf/test.yaml")):7:") == true)
    }

    @Test func aNonCACertificateIsAWarning() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        let (_, warnings) = try fixture.load(withBlock("{ mode: optional, ca: ../certs/leaf.pem }"))
        #expect(warnings.count == 1 && warnings[0].message.contains("not a CA certificate"), "\(warnings)")
    }

    @Test func theBlockOutsideTLSIsRefused() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        let beside = try fixture.errors(
            edit("    tls:\n", "    client_certificates: { mode: optional, ca: ../certs/ca.pem }\n    tls:\n"))
        #expect(beside.count == 1 && beside[0].message.contains("belongs in the listener's 'tls:' block"), "\(beside)")
        #expect(beside.first?.line == 4)
        let redirect = try fixture.errors(
            edit(
                "pools:",
                "  - name: http\n    address: 127.0.0.1:0\n    redirect_to_https: 443\n"
                    + "    client_certificates: { mode: required, ca: ../certs/ca.pem }\npools:"))
        #expect(redirect.count == 1 && redirect[0].message.contains("on a listener without TLS"), "\(redirect)")
        #expect(redirect.first?.line == 10)
    }

    @Test func routeRequirementParsesAndWarnsWithoutAnAskingListener() throws {
        let fixture = try fixtureWithCA()
        defer { fixture.remove() }
        let route = "      - { preset: owa, pool: mailbox }"
        let guarded = "      - { preset: owa, pool: mailbox, client_certificate: required }"
        let (config, warnings) = try fixture.load(edit(route, guarded))
        #expect(config.services.first?.routes.first?.clientCertificateRequired == true)
        #expect(warnings.count == 1 && warnings[0].message.contains("no listener asks clients for a certificate"), "\(warnings)")
        let (asked, quiet) = try fixture.load(
            edit(route, guarded, in: withBlock("{ mode: optional, ca: ../certs/ca.pem }")))
        #expect(quiet.isEmpty, "\(quiet)")
        #expect(asked.services.first?.routes.first?.clientCertificateRequired == true)
        let errors = try fixture.errors(edit(route, "      - { preset: owa, pool: mailbox, client_certificate: optional }"))
        #expect(errors.count == 1 && errors[0].message.contains("unknown value 'optional'"), "\(errors)")
    }
}
