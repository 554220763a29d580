import Foundation
import Testing

@testable import GatehouseTLS

/// Real clients (`openssl s_client`, `curl`) against a loopback server built on OpenSSLHandler.
@Suite(.serialized) struct ExternalClientTests {
    /// RSA and ECDSA certificates for mail/autodiscover, an ECDSA wildcard, and an RSA default.
    final class Setup: @unchecked Sendable {
        let pki: TestPKI
        let mailEC, mailRSA, wildcard, fallback: TestPKI.Files
        let store: CertificateStore
        let bed = TLSTestBed()

        init() async throws {
            pki = try TestPKI()
            mailEC = try pki.selfSigned(cn: "mail.contoso.com", dns: ["mail.contoso.com", "autodiscover.contoso.com"], key: .ecdsa)
            mailRSA = try pki.selfSigned(cn: "mail.contoso.com", dns: ["mail.contoso.com", "autodiscover.contoso.com"], key: .rsa)
            wildcard = try pki.selfSigned(cn: "*.contoso.com", dns: ["*.contoso.com"], key: .ecdsa)
            fallback = try pki.selfSigned(cn: "gateway.contoso.net", dns: ["gateway.contoso.net"], key: .rsa)
            let keys = try [fallback, mailEC, mailRSA, wildcard].map(pki.certified)
            store = try CertificateStore(
                certificates: keys, defaultCertificate: keys[0], policy: .exchangeDefault,
                alpn: ["h2", "http/1.1"], strictSNI: false)
            try await bed.startServer(store: store, http: true)
        }

        /// Runs s_client with an empty OpenSSL config (so the system config cannot change the client).
        func sClient(_ extra: [String]) throws -> (status: Int32, output: String) {
            try TestPKI.run(
                "/usr/bin/env",
                [
                    "OPENSSL_CONF=/dev/null", "/usr/bin/openssl", "s_client",
                    "-connect", "127.0.0.1:\(bed.port)"
                ] + extra,
                input: Data("Q\n".utf8), timeout: 15, check: false)
        }
    }

    static func available() -> Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")
    }

    @Test(.enabled(if: available())) func sClientSeesCertificateChosenBySNI() async throws {
        let setup = try await Setup()
        let cases: [(String, String)] = [
            ("mail.contoso.com", "subject=CN = mail.contoso.com"),
            ("AUTODISCOVER.contoso.com", "subject=CN = mail.contoso.com"),
            ("owa.contoso.com", "subject=CN = *.contoso.com"),
            ("unknown.example.org", "subject=CN = gateway.contoso.net")
        ]
        for (name, subject) in cases {
            let result = try setup.sClient(["-servername", name, "-brief"])
            let full = try setup.sClient(["-servername", name])
            #expect(full.output.contains(subject), "\(name): \(full.output.prefix(600))")
            #expect(result.output.contains("Protocol version: TLSv1.3"))
        }
        await setup.bed.shutdown()
    }

    @Test(.enabled(if: available())) func sigalgsChooseECDSAOrRSA() async throws {
        let setup = try await Setup()
        let ecdsa = try setup.sClient(["-servername", "mail.contoso.com", "-sigalgs", "ECDSA+SHA256"])
        #expect(ecdsa.output.contains("Peer signature type: ECDSA"), "\(ecdsa.output.prefix(800))")
        #expect(ecdsa.output.contains("Server public key is 256 bit"))
        let rsa = try setup.sClient(["-servername", "mail.contoso.com", "-sigalgs", "RSA-PSS+SHA256"])
        #expect(rsa.output.contains("Peer signature type: RSA-PSS"), "\(rsa.output.prefix(800))")
        #expect(rsa.output.contains("Server public key is 2048 bit"))
        // TLS 1.2 with only ECDHE-RSA ciphers gets the RSA certificate even if ECDSA sigalgs are offered.
        let rsa12 = try setup.sClient(["-servername", "mail.contoso.com", "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])
        #expect(rsa12.output.contains("Server public key is 2048 bit"), "\(rsa12.output.prefix(800))")
        await setup.bed.shutdown()
    }

    @Test(.enabled(if: available())) func oldProtocolsAndNonECDHECiphersAreRefused() async throws {
        let setup = try await Setup()
        // SECLEVEL=0 lets this client really offer TLS 1.1, so the refusal is the server's.
        let tls11 = try setup.sClient(["-servername", "mail.contoso.com", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(tls11.status != 0)
        #expect(!tls11.output.contains("BEGIN CERTIFICATE"))
        let rsaKx = try setup.sClient(["-servername", "mail.contoso.com", "-cipher", "AES128-SHA", "-no_tls1_3"])
        #expect(rsaKx.status != 0)
        #expect(!rsaKx.output.contains("BEGIN CERTIFICATE"))
        #expect(await eventually { setup.bed.serverLogs.count >= 2 && setup.bed.serverLogs.allSatisfy { $0.inactive } })
        let kinds = setup.bed.serverLogs.flatMap { $0.tlsErrors.map(\.kind) }
        #expect(kinds == [.handshake, .handshake], "server-side refusals: \(setup.bed.serverLogs.flatMap(\.errors))")
        let messages = setup.bed.serverLogs.flatMap { $0.tlsErrors.map(\.message) }.joined(separator: " | ")
        #expect(messages.contains("unsupported protocol"), "\(messages)")
        #expect(messages.contains("no shared cipher"), "\(messages)")
        await setup.bed.shutdown()
    }

    @Test(.enabled(if: available())) func curlWithCACertSucceeds() async throws {
        let setup = try await Setup()
        let port = setup.bed.port
        let result = try TestPKI.run(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "10", "--http1.1", "--cacert", setup.mailEC.certificate,
                "--resolve", "mail.contoso.com:\(port):127.0.0.1", "https://mail.contoso.com:\(port)/owa/"
            ], timeout: 15, check: false)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output == "hello, tls\n")
        let log = try #require(setup.bed.serverLogs.first)
        #expect(log.info?.negotiatedProtocol == "http/1.1")
        #expect(log.info?.serverName == "mail.contoso.com")
        // curl trusting only the ECDSA certificate proves the ECDSA one was served.
        #expect(
            log.info?.servedCertificate?.sha256Fingerprint
                == (try X509Certificate.chain(pemFile: setup.mailEC.certificate)[0].sha256Fingerprint))
        await setup.bed.shutdown()
    }
}
