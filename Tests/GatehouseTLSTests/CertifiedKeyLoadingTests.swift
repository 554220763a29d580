import Foundation
import Testing

@testable import GatehouseTLS

/// Loading a certificate + key pair from files, with errors and warnings that say what and where.
@Suite struct CertifiedKeyLoadingTests {
    @Test func loadsMatchingPairWithoutWarnings() throws {
        let pki = try TestPKI()
        for kind in [TestPKI.KeyKind.rsa, .ecdsa] {
            let files = try pki.selfSigned(cn: "ok.example.com", dns: ["ok.example.com"], key: kind)
            chmod(files.key, 0o600)
            let (certified, warnings) = try CertifiedKey.load(certificatePath: files.certificate, keyPath: files.key, strict: true)
            #expect(warnings.isEmpty)
            #expect(certified.isECDSA == (kind == .ecdsa))
            #expect(certified.leaf.commonName == "ok.example.com")
        }
    }

    @Test func mismatchedKeyIsRefused() throws {
        let pki = try TestPKI()
        let a = try pki.selfSigned(cn: "a.example.com")
        let b = try pki.selfSigned(cn: "b.example.com")
        let error = #expect(throws: TLSError.self) {
            try CertifiedKey.load(certificatePath: a.certificate, keyPath: b.key, strict: false)
        }
        #expect(error?.kind == .keyMismatch)
        #expect(error?.message.contains(a.certificate) == true)
    }

    @Test func unreadableAndInvalidFilesAreRefused() throws {
        let pki = try TestPKI()
        let files = try pki.selfSigned(cn: "a.example.com")
        let missing = #expect(throws: TLSError.self) {
            try CertifiedKey.load(certificatePath: "/nonexistent/cert.pem", keyPath: files.key, strict: false)
        }
        #expect(missing?.kind == .fileUnreadable)
        #expect(missing?.message.contains("/nonexistent/cert.pem") == true)
        let invalid = #expect(throws: TLSError.self) {
            try CertifiedKey.load(certificatePath: files.key, keyPath: files.key, strict: false)
        }
        #expect(invalid?.kind == .invalidPEM)
    }

    @Test func groupReadableKeyWarns() throws {
        let pki = try TestPKI()
        let files = try pki.selfSigned(cn: "a.example.com")
        chmod(files.key, 0o644)
        let (_, warnings) = try CertifiedKey.load(certificatePath: files.certificate, keyPath: files.key, strict: true)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("chmod 600") == true)
    }

    @Test func expiredAndNotYetValidWarnOrRefuseWhenStrict() throws {
        let pki = try TestPKI()
        let expired = try pki.selfSignedWindow(
            cn: "old.example.com", dns: ["old.example.com"], start: "20200101000000Z", end: "20210101000000Z")
        chmod(expired.key, 0o600)
        let (_, warnings) = try CertifiedKey.load(certificatePath: expired.certificate, keyPath: expired.key, strict: false)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("expired") == true)
        let strictError = #expect(throws: TLSError.self) {
            try CertifiedKey.load(certificatePath: expired.certificate, keyPath: expired.key, strict: true)
        }
        #expect(strictError?.kind == .certificateExpired)

        let future = try pki.selfSignedWindow(
            cn: "new.example.com", dns: ["new.example.com"], start: "20991231000000Z", end: "21001231000000Z")
        chmod(future.key, 0o600)
        let futureError = #expect(throws: TLSError.self) {
            try CertifiedKey.load(certificatePath: future.certificate, keyPath: future.key, strict: true)
        }
        #expect(futureError?.kind == .certificateNotYetValid)
    }
}
