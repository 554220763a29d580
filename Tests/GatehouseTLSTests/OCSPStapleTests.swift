import Foundation
import Testing

@testable import GatehouseTLS

/// OCSP responses made with `openssl ocsp` against a throw-away CA, checked by `OCSPStaple` with
/// the time passed in.
@Suite struct OCSPStapleTests {
    /// A CA, a leaf it issued (chain file: leaf then CA) and an OCSP index listing the leaf.
    struct Setup {
        let pki: TestPKI
        let ca: TestPKI.Files
        let leaf: TestPKI.Files
        let chainFile: String

        init(revoked: Bool = false) throws {
            pki = try TestPKI()
            (ca, leaf) = try pki.caSigned(cn: "mail.contoso.lab", dns: ["mail.contoso.lab"])
            chainFile = leaf.certificate + ".chain.pem"
            let chain =
                try String(contentsOfFile: leaf.certificate, encoding: .utf8) + String(contentsOfFile: ca.certificate, encoding: .utf8)
            try chain.write(toFile: chainFile, atomically: true, encoding: .utf8)
        }

        var chain: [X509Certificate] { get throws { try X509Certificate.chain(pemFile: chainFile) } }

        /// A response for `certificate` (default: the leaf) from `signer` (default: the CA).
        func response(
            for certificate: String? = nil, signer: TestPKI.Files? = nil, issuer: String? = nil,
            revoked: Bool = false, days: Int = 1
        ) throws -> [UInt8] {
            let certificate = certificate ?? leaf.certificate
            let signer = signer ?? ca
            let serial = try TestPKI.openssl(["x509", "-in", certificate, "-noout", "-serial"])
                .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
            let base = pki.directory.appendingPathComponent("ocsp-\(UUID().uuidString)").path
            let status = revoked ? "R\t301231235959Z\t240101000000Z" : "V\t301231235959Z\t"
            try "\(status)\t\(serial)\tunknown\t/CN=x\n".write(toFile: base + ".index", atomically: true, encoding: .utf8)
            try TestPKI.openssl([
                "ocsp", "-index", base + ".index", "-rsigner", signer.certificate, "-rkey", signer.key,
                "-CA", issuer ?? ca.certificate, "-issuer", issuer ?? ca.certificate, "-cert", certificate,
                "-respout", base + ".der", "-ndays", "\(days)"
            ])
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + ".der")))
        }
    }

    static func rejection(_ body: () throws -> OCSPStaple) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func aGoodResponseFromTheIssuerIsAccepted() throws {
        let setup = try Setup()
        let der = try setup.response()
        let staple = try OCSPStaple(der: der, chain: try setup.chain, now: Date())
        #expect(staple.der == der)
        #expect(abs(staple.nextUpdate.timeIntervalSinceNow - 86_400) < 600)
        #expect(staple.thisUpdate <= Date().addingTimeInterval(5))
    }

    @Test func aResponderCertifiedByTheIssuerForOCSPSigningIsAccepted() throws {
        let setup = try Setup()
        let responder = setup.pki.directory.appendingPathComponent("responder").path
        try TestPKI.openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj", "/CN=OCSP responder",
            "-keyout", responder + ".key", "-out", responder + ".csr"
        ])
        try "extendedKeyUsage=OCSPSigning\nbasicConstraints=critical,CA:FALSE\n".write(
            toFile: responder + ".ext", atomically: true, encoding: .utf8)
        try TestPKI.openssl([
            "x509", "-req", "-in", responder + ".csr", "-CA", setup.ca.certificate, "-CAkey", setup.ca.key,
            "-CAcreateserial", "-days", "2", "-extfile", responder + ".ext", "-out", responder + ".crt"
        ])
        let der = try setup.response(signer: TestPKI.Files(certificate: responder + ".crt", key: responder + ".key"))
        #expect(Self.rejection { try OCSPStaple(der: der, chain: try setup.chain) } == nil)
    }

    @Test func aResponseForAnotherCertificateIsRefused() throws {
        let setup = try Setup()
        let other = try setup.pki.caSigned(cn: "other.contoso.lab", dns: ["other.contoso.lab"])
        // Same CA name, other CA key and serial: the CertID differs.
        let der = try setup.response(for: other.leaf.certificate, signer: other.ca, issuer: other.ca.certificate)
        let reason = Self.rejection { try OCSPStaple(der: der, chain: try setup.chain) }
        #expect(reason?.contains("is for another certificate") == true, "\(reason ?? "accepted")")
    }

    @Test func aResponseSignedByAnotherKeyIsRefused() throws {
        let setup = try Setup()
        let stranger = try setup.pki.selfSigned(cn: "Gatehouse Test CA")
        let der = try setup.response(signer: stranger)
        let reason = Self.rejection { try OCSPStaple(der: der, chain: try setup.chain) }
        #expect(reason?.contains("is not signed by the issuer") == true, "\(reason ?? "accepted")")
    }

    @Test func expiredAndFutureResponsesAreRefused() throws {
        let setup = try Setup()
        let der = try setup.response(days: 1)
        let later = Self.rejection { try OCSPStaple(der: der, chain: try setup.chain, now: Date().addingTimeInterval(2 * 86_400)) }
        #expect(later?.contains("the response expired at") == true, "\(later ?? "accepted")")
        let earlier = Self.rejection { try OCSPStaple(der: der, chain: try setup.chain, now: Date().addingTimeInterval(-3600)) }
        #expect(earlier?.contains("is in the future") == true, "\(earlier ?? "accepted")")
        // Within the allowed clock skew it is fine.
        #expect(Self.rejection { try OCSPStaple(der: der, chain: try setup.chain, now: Date().addingTimeInterval(-60)) } == nil)
    }

    @Test func revokedGarbageAndMissingIssuerAreRefused() throws {
        let setup = try Setup()
        let revoked = Self.rejection { try OCSPStaple(der: try setup.response(revoked: true), chain: try setup.chain) }
        #expect(revoked?.contains("revoked") == true, "\(revoked ?? "accepted")")
        #expect(Self.rejection { try OCSPStaple(der: Array("not der".utf8), chain: try setup.chain) } == "not a DER OCSP response")
        #expect(Self.rejection { try OCSPStaple(der: [], chain: try setup.chain) } == "the file is empty")
        let leafOnly = try X509Certificate.chain(pemFile: setup.leaf.certificate)
        let noIssuer = Self.rejection { try OCSPStaple(der: try setup.response(), chain: leafOnly) }
        #expect(noIssuer?.contains("holds no issuer") == true)
        #expect(
            Self.rejection { try OCSPStaple.load(path: setup.chainFile + ".missing", chain: try setup.chain) } == "cannot read the file")
    }
}
