import Foundation
import Testing

@testable import GatehouseTLS

/// `PKCS12Archive`: what `gatehouse cert export --pfx` writes reads back (with OpenSSL's
/// PKCS12_parse and with the openssl command line) as the same certificate, chain and key, under
/// AES-256-CBC and a SHA-256 MAC.
@Suite struct PKCS12ArchiveTests {
    @Test("export then parse gives the same certificate, a key that matches it, and the chain")
    func roundTrip() throws {
        let pki = try TestPKI()
        let (_, leafFiles) = try pki.intermediateChain(cn: "mail.contoso.lab", dns: ["mail.contoso.lab"])
        let certified = try pki.certified(leafFiles)
        let bytes = try PKCS12Archive.export(certified, password: "S3cret!", friendlyName: "Gatehouse")
        let parsed = try PKCS12Archive.parse(bytes, password: "S3cret!", source: "test.pfx")
        #expect(parsed.certificate.derBytes == certified.leaf.derBytes)
        #expect(parsed.key.matches(certified.leaf))
        #expect(parsed.key.pemString == certified.key.pemString)
        #expect(parsed.chain.map(\.derBytes) == certified.chain.dropFirst().map(\.derBytes))
    }

    @Test("a wrong password is refused with a clear error; an empty one cannot be used to export")
    func passwords() throws {
        let pki = try TestPKI()
        let certified = try pki.certified(try pki.selfSigned(cn: "mail.contoso.lab", key: .rsa))
        let bytes = try PKCS12Archive.export(certified, password: "right")
        #expect(throws: TLSError.self) { try PKCS12Archive.parse(bytes, password: "wrong", source: "x.pfx") }
        #expect(throws: TLSError.self) { try PKCS12Archive.export(certified, password: "") }
    }

    @Test("openssl pkcs12 -info sees AES-256-CBC encryption and a SHA-256 MAC")
    func algorithmsSeenByOpenSSL() throws {
        let pki = try TestPKI()
        let certified = try pki.certified(try pki.selfSigned(cn: "mail.contoso.lab", key: .rsa))
        let pfx = pki.directory.appendingPathComponent("out.pfx").path
        let password = pki.directory.appendingPathComponent("password").path
        try Data(try PKCS12Archive.export(certified, password: "pw-123")).write(to: URL(fileURLWithPath: pfx))
        try "pw-123\n".write(toFile: password, atomically: true, encoding: .utf8)
        let info = try TestPKI.openssl(["pkcs12", "-info", "-in", pfx, "-passin", "file:\(password)", "-noout"])
        #expect(info.contains("MAC: sha256"), "\(info)")
        #expect(info.contains("AES-256-CBC"), "\(info)")
        #expect(!info.contains("RC2") && !info.contains("3DES"), "\(info)")
        let pem = try TestPKI.openssl(["pkcs12", "-in", pfx, "-passin", "file:\(password)", "-nokeys", "-clcerts"])
        let certificate = try #require(try X509Certificate.chain(pem: Array(pem.utf8), source: "openssl").first)
        #expect(certificate.derBytes == certified.leaf.derBytes)
    }
}
