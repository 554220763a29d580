import Foundation
import NIOCore
import Testing

@testable import GatehouseTLS

/// The client role verifying backends: only the configured trust, validity, name, pins.
@Suite struct BackendVerificationTests {
    /// Starts a server presenting `files` and connects a client with `trust` to `serverName`.
    /// Returns the client's log once the handshake ended one way or the other.
    func handshake(serverFiles: TestPKI.Files, pki: TestPKI, trust: BackendTrust, serverName: String) async throws -> EventLog {
        let store = try CertificateStore(
            certificates: [pki.certified(serverFiles)], defaultCertificate: nil,
            policy: .exchangeDefault, alpn: ["http/1.1"], strictSNI: false)
        let bed = TLSTestBed()
        try await bed.startServer(store: store)
        let client = try TLSClientContext(trust: trust)
        let (channel, log) = try await bed.connect(context: client, serverName: serverName)
        try? await send(channel, [42])
        _ = await eventually { log.bytes == [42] || log.inactive }
        try? await channel.close().get()
        await bed.shutdown()
        return log
    }

    func mailboxCertificate(_ pki: TestPKI, key: TestPKI.KeyKind = .rsa) throws -> TestPKI.Files {
        try pki.selfSigned(cn: "mbx01", dns: ["mbx01", "mbx01.contoso.local"], key: key)
    }

    @Test func trustedSelfSignedBackendIsAccepted() async throws {
        let pki = try TestPKI()
        let files = try mailboxCertificate(pki)
        let leaf = try X509Certificate.chain(pemFile: files.certificate)[0]
        let log = try await handshake(
            serverFiles: files, pki: pki, trust: BackendTrust(trustedCertificates: [leaf]),
            serverName: "mbx01.contoso.local")
        #expect(log.bytes == [42])
        #expect(log.errors.isEmpty)
        #expect(log.info?.serverName == "mbx01.contoso.local")
    }

    @Test func impostorWithSameNameIsRefused() async throws {
        let pki = try TestPKI()
        let genuine = try X509Certificate.chain(pemFile: mailboxCertificate(pki).certificate)[0]
        let impostorFiles = try mailboxCertificate(pki)
        let impostor = try X509Certificate.chain(pemFile: impostorFiles.certificate)[0]
        let log = try await handshake(
            serverFiles: impostorFiles, pki: pki, trust: BackendTrust(trustedCertificates: [genuine]),
            serverName: "mbx01.contoso.local")
        #expect(log.bytes.isEmpty)
        let error = try #require(log.tlsErrors.first)
        #expect(error.kind == .verification)
        #expect(error.serverName == "mbx01.contoso.local")
        #expect(error.peerSubject == "CN=mbx01")
        #expect(error.peerSHA256 == impostor.sha256Fingerprint)
        #expect(error.message.contains("backend mbx01.contoso.local"))
        #expect(error.message.contains(impostor.sha256Fingerprint))
        #expect(error.message.contains("CN=mbx01"))
    }

    @Test func wrongHostNameIsRefused() async throws {
        let pki = try TestPKI()
        let files = try mailboxCertificate(pki)
        let leaf = try X509Certificate.chain(pemFile: files.certificate)[0]
        let log = try await handshake(
            serverFiles: files, pki: pki, trust: BackendTrust(trustedCertificates: [leaf]),
            serverName: "mbx02.contoso.local")
        let error = try #require(log.tlsErrors.first)
        #expect(error.kind == .verification)
        #expect(error.message.lowercased().contains("hostname mismatch"))
        #expect(log.bytes.isEmpty)
    }

    @Test func expiredBackendCertificateIsRefused() async throws {
        let pki = try TestPKI()
        let files = try pki.selfSignedWindow(cn: "mbx01", dns: ["mbx01.contoso.local"], start: "20200101000000Z", end: "20210101000000Z")
        let leaf = try X509Certificate.chain(pemFile: files.certificate)[0]
        let log = try await handshake(
            serverFiles: files, pki: pki, trust: BackendTrust(trustedCertificates: [leaf]),
            serverName: "mbx01.contoso.local")
        let error = try #require(log.tlsErrors.first)
        #expect(error.kind == .verification)
        #expect(error.message.contains("expired"))
    }

    @Test func pinsAreEnforced() async throws {
        let pki = try TestPKI()
        let files = try mailboxCertificate(pki, key: .ecdsa)
        let leaf = try X509Certificate.chain(pemFile: files.certificate)[0]
        let other = try X509Certificate.chain(pemFile: mailboxCertificate(pki).certificate)[0]
        let refused = try await handshake(
            serverFiles: files, pki: pki,
            trust: BackendTrust(trustedCertificates: [leaf], pinnedSHA256: [other.sha256Fingerprint]),
            serverName: "mbx01.contoso.local")
        #expect(refused.tlsErrors.first?.kind == .verification)
        #expect(refused.tlsErrors.first?.message.contains("pinned") == true)
        #expect(refused.bytes.isEmpty)
        // The same pin written with colons and lowercase matches.
        let colonPin = stride(from: 0, to: 64, by: 2).map { index -> String in
            let chars = Array(leaf.sha256Fingerprint.lowercased())
            return String(chars[index..<index + 2])
        }.joined(separator: ":")
        let accepted = try await handshake(
            serverFiles: files, pki: pki,
            trust: BackendTrust(trustedCertificates: [leaf], pinnedSHA256: [colonPin]),
            serverName: "mbx01.contoso.local")
        #expect(accepted.bytes == [42])
        #expect(accepted.errors.isEmpty)
    }

    @Test func caBundleTrustAndIPAddressNames() async throws {
        let pki = try TestPKI()
        let (ca, leafFiles) = try pki.caSigned(cn: "mbx03", dns: ["mbx03.contoso.local"])
        let viaCA = try await handshake(
            serverFiles: leafFiles, pki: pki, trust: BackendTrust(caBundlePath: ca.certificate),
            serverName: "mbx03.contoso.local")
        #expect(viaCA.bytes == [42])
        let ipFiles = try pki.selfSigned(cn: "mbx04", dns: ["mbx04"], ips: ["127.0.0.1"])
        let ipLeaf = try X509Certificate.chain(pemFile: ipFiles.certificate)[0]
        let viaIP = try await handshake(
            serverFiles: ipFiles, pki: pki, trust: BackendTrust(trustedCertificates: [ipLeaf]),
            serverName: "127.0.0.1")
        #expect(viaIP.bytes == [42])
        let noIP = try await handshake(
            serverFiles: leafFiles, pki: pki, trust: BackendTrust(caBundlePath: ca.certificate),
            serverName: "127.0.0.1")
        #expect(noIP.tlsErrors.first?.kind == .verification)
    }

    @Test func serverSendsItsIntermediateChain() async throws {
        let pki = try TestPKI()
        let (root, leafFiles) = try pki.intermediateChain(cn: "mail.contoso.com", dns: ["mail.contoso.com"])
        let certified = try pki.certified(leafFiles)
        #expect(certified.chain.count == 2)
        #expect(certified.chain[1].commonName == "Gatehouse Test Intermediate")
        // The client knows only the root: verification succeeds only if the intermediate is sent.
        let log = try await handshake(
            serverFiles: leafFiles, pki: pki, trust: BackendTrust(caBundlePath: root.certificate),
            serverName: "mail.contoso.com")
        #expect(log.errors.isEmpty, "\(log.errors)")
        #expect(log.bytes == [42])
    }

    @Test func untrustedByDefaultAndBadTrustRefused() async throws {
        let pki = try TestPKI()
        let files = try mailboxCertificate(pki)
        let leaf = try X509Certificate.chain(pemFile: files.certificate)[0]
        // Trusting some other certificate does not make the system store or anything else count.
        let other = try X509Certificate.chain(pemFile: pki.selfSigned(cn: "other").certificate)[0]
        let log = try await handshake(
            serverFiles: files, pki: pki, trust: BackendTrust(trustedCertificates: [other]),
            serverName: "mbx01.contoso.local")
        #expect(log.tlsErrors.first?.kind == .verification)
        #expect(throws: TLSError.self) { try TLSClientContext(trust: BackendTrust()) }
        #expect(throws: TLSError.self) { try TLSClientContext(trust: BackendTrust(trustedCertificates: [leaf], pinnedSHA256: ["zz"])) }
        #expect(throws: TLSError.self) { try TLSClientContext(trust: BackendTrust(caBundlePath: "/nonexistent/ca.pem")) }
    }
}
