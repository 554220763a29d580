import Foundation
import NIOCore
import Testing

@testable import GatehouseTLS

/// Client certificates over real loopback handshakes: verified by OpenSSL against the listener's
/// CAs on every certificate's context (SNI switches contexts), refused when missing (required) or
/// untrusted, and reported in `TLSConnectionInfo` only when verified.
@Suite(.serialized) struct ClientCertificateHandshakeTests {
    /// A store with two certificates (SNI `b.contoso.com` switches away from the default context)
    /// asking for client certificates issued by `trusted`'s CA; client files from two CAs.
    struct Setup {
        let pki: TestPKI
        let store: CertificateStore
        let serverB: CertifiedKey
        let trusted: CertifiedKey
        let rogue: CertifiedKey

        init(mode: ClientCertificatePolicy.Mode) throws {
            pki = try TestPKI()
            let a = try pki.certified(try pki.selfSigned(cn: "a.contoso.com", dns: ["a.contoso.com"]))
            serverB = try pki.certified(try pki.selfSigned(cn: "b.contoso.com", dns: ["b.contoso.com"]))
            let good = try pki.caSigned(cn: "alice", dns: ["alice.contoso.com"])
            let bad = try pki.caSigned(cn: "alice", dns: ["alice.contoso.com"])
            trusted = try pki.certified(good.leaf)
            rogue = try pki.certified(bad.leaf)
            let policy = try ClientCertificatePolicy.load(mode: mode, caFile: good.ca.certificate)
            store = try CertificateStore(certificates: [a, serverB], alpn: ["http/1.1"], clientCertificates: policy)
        }

        /// A client trusting server b, presenting `certificate` when given.
        func client(presenting certificate: CertifiedKey?) throws -> TLSClientContext {
            let client = try TLSClientContext(trust: BackendTrust(trustedCertificates: [serverB.leaf]))
            if let certificate { try client.context.use(certificate) }
            return client
        }
    }

    /// Connects to b.contoso.com; returns the server's log once its handshake ended either way.
    private func handshake(_ setup: Setup, presenting certificate: CertifiedKey?) async throws -> EventLog {
        let bed = TLSTestBed()
        try await bed.startServer(store: setup.store, echo: true)
        let (channel, _) = try await bed.connect(context: try setup.client(presenting: certificate), serverName: "b.contoso.com")
        // TLS 1.3: the server checks the client's certificate after the client finished; a byte
        // written then makes the server's verdict visible either way.
        try? await send(channel, [0x41])
        await eventually { bed.serverLogs.first.map { $0.handshakeDone || !$0.errors.isEmpty } ?? false }
        let log = try #require(bed.serverLogs.first)
        try? await channel.close().get()
        await bed.shutdown()
        return log
    }

    @Test func aTrustedCertificateIsVerifiedAfterAnSNISwitch() async throws {
        let setup = try Setup(mode: .required)
        let log = try await handshake(setup, presenting: setup.trusted)
        #expect(log.errors.isEmpty, "\(log.errors)")
        let verified = try #require(log.info?.clientCertificate)
        #expect(log.info?.servedCertificate === setup.serverB.leaf)
        #expect(verified.sha256Thumbprint == setup.trusted.leaf.sha256Fingerprint)
        #expect(verified.subject == "CN=alice")
        #expect(verified.issuer == "CN=Gatehouse Test CA")
        #expect(verified.serialNumber == setup.trusted.leaf.serialNumberHex)
    }

    @Test func requiredRefusesAClientWithoutACertificate() async throws {
        let setup = try Setup(mode: .required)
        let log = try await handshake(setup, presenting: nil)
        #expect(log.info?.clientCertificate == nil)
        #expect(log.tlsErrors.contains { $0.message.contains("peer did not return a certificate") }, "\(log.errors)")
    }

    @Test(arguments: [ClientCertificatePolicy.Mode.optional, .required])
    func anUntrustedCertificateFailsTheHandshake(mode: ClientCertificatePolicy.Mode) async throws {
        let setup = try Setup(mode: mode)
        let log = try await handshake(setup, presenting: setup.rogue)
        #expect(log.info?.clientCertificate == nil)
        #expect(
            log.tlsErrors.contains {
                $0.message.contains("client certificate verification failed: unable to get local issuer certificate")
            },
            "\(log.errors)")
    }

    @Test func optionalLetsAClientWithoutACertificateThrough() async throws {
        let setup = try Setup(mode: .optional)
        let log = try await handshake(setup, presenting: nil)
        #expect(log.errors.isEmpty, "\(log.errors)")
        #expect(log.handshakeDone)
        #expect(log.info?.clientCertificate == nil)
    }

    /// A verified chain whose leaf subject is over `maximumClientSubjectBytes` is still refused:
    /// the subject goes into a header and the access log.
    @Test func aCertificateWithAnOversizedSubjectIsRefused() async throws {
        let setup = try Setup(mode: .optional)
        let base = setup.pki.directory.appendingPathComponent("long").path
        let subject = (0..<24).map { "/OU=\(String(repeating: "u", count: 50))-\($0)" }.joined() + "/CN=alice"
        try TestPKI.openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", subject, "-keyout", base + ".key", "-out", base + ".csr"
        ])
        let ca = try #require(setup.store.clientCertificates?.source)
        try TestPKI.openssl([
            "x509", "-req", "-in", base + ".csr", "-CA", ca, "-CAkey", String(ca.dropLast(4)) + ".key",
            "-CAcreateserial", "-days", "2", "-out", base + ".crt"
        ])
        let long = try setup.pki.certified(TestPKI.Files(certificate: base + ".crt", key: base + ".key"))
        let log = try await handshake(setup, presenting: long)
        #expect(log.info?.clientCertificate == nil)
        #expect(log.tlsErrors.contains { $0.message.contains("its subject is longer than 1024 bytes") }, "\(log.errors)")
    }

    @Test func aCAFileWithoutCertificatesIsRefused() throws {
        let pki = try TestPKI()
        let path = pki.directory.appendingPathComponent("empty.pem").path
        try "not a certificate\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: TLSError.self) { try ClientCertificatePolicy.load(mode: .optional, caFile: path) }
        #expect(throws: TLSError.self) { try ClientCertificatePolicy(mode: .optional, authorities: [], source: "x") }
    }

    @Test func sessionIDContextsDifferByModeAndCAs() throws {
        let pki = try TestPKI()
        let one = try pki.certified(try pki.caSigned(cn: "x", dns: ["x.contoso.com"]).ca)
        let two = try pki.certified(try pki.caSigned(cn: "y", dns: ["y.contoso.com"]).ca)
        let optional = try ClientCertificatePolicy(mode: .optional, authorities: [one.leaf], source: "one")
        let required = try ClientCertificatePolicy(mode: .required, authorities: [one.leaf], source: "one")
        let other = try ClientCertificatePolicy(mode: .optional, authorities: [two.leaf], source: "two")
        #expect(optional.sessionIDContext.count == 32)
        #expect(Set([optional.sessionIDContext, required.sessionIDContext, other.sessionIDContext]).count == 3)
        #expect(optional.sessionIDContext != Array("gatehouse".utf8))
    }
}
