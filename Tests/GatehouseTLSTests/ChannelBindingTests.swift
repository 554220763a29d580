import Foundation
import Testing

@testable import GatehouseTLS

/// RFC 5929 `tls-server-end-point` and the NTLM channel-binding token, checked against the
/// openssl command line (the digest of the DER certificate) and against pyspnego's own
/// GSS channel-bindings encoding, not against values this code produced.
@Suite struct ChannelBindingTests {
    /// The hex digest (`-sha256`, `-sha384`) of the certificate's DER form, by the openssl command line.
    static func opensslDigest(_ file: String, _ digest: String) throws -> String {
        let der = file + ".der"
        try TestPKI.openssl(["x509", "-in", file, "-outform", "DER", "-out", der])
        let output = try TestPKI.openssl(["dgst", digest, "-r", der])
        return String(output.split(separator: " ").first ?? "").uppercased()
    }

    /// A self-signed certificate signed with `digest` (sha1, sha256, sha384, sha512).
    static func certificate(_ pki: TestPKI, key: TestPKI.KeyKind, digest: String) throws -> String {
        let base = pki.directory.appendingPathComponent("cb-\(key)-\(digest)").path
        let keyArguments = key == .rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]
        try TestPKI.openssl(
            ["req", "-x509", "-new", "-nodes", "-subj", "/CN=mail.contoso.lab", "-days", "2", "-\(digest)"] + keyArguments
                + ["-keyout", base + ".key", "-out", base + ".crt"])
        return base + ".crt"
    }

    @Test(
        "the hash follows the signature's digest; MD5 and SHA-1 become SHA-256",
        arguments: [
            (TestPKI.KeyKind.rsa, "sha256", "SHA256", "-sha256"), (TestPKI.KeyKind.rsa, "sha1", "SHA256", "-sha256"),
            (TestPKI.KeyKind.ecdsa, "sha384", "SHA384", "-sha384"), (TestPKI.KeyKind.rsa, "sha512", "SHA512", "-sha512")
        ])
    func digestChoice(key: TestPKI.KeyKind, signature: String, name: String, dgst: String) throws {
        let pki = try TestPKI()
        let file = try Self.certificate(pki, key: key, digest: signature)
        let certificate = try #require(try X509Certificate.chain(pemFile: file).first)
        #expect(certificate.tlsServerEndPointDigestName == name)
        #expect(certificate.tlsServerEndPointHex == (try Self.opensslDigest(file, dgst)))
        #expect(certificate.channelBindingApplicationData == Array("tls-server-end-point:".utf8) + certificate.tlsServerEndPointHash)
    }

    @Test("the GSS structure and its MD5 equal pyspnego's GssChannelBindings(...).pack() and hashlib.md5")
    func tokenMatchesPyspnego() throws {
        let data = Array("tls-server-end-point:".utf8) + (0..<32).map { UInt8($0 * 7 & 0xFF) }
        let script = """
            import hashlib, sys
            from spnego.channel_bindings import GssChannelBindings
            data = bytes.fromhex(sys.argv[1])
            packed = GssChannelBindings(application_data=data).pack()
            print(packed.hex(), hashlib.md5(packed).hexdigest())
            """
        // python3 from PATH: the one `make deps` installed pyspnego for.
        let output = try TestPKI.run("/usr/bin/env", ["python3", "-c", script, ChannelBindings.hex(data)]).output
        let parts = output.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { $0.uppercased() }
        #expect(parts.count == 2, "\(output)")
        #expect(ChannelBindings.hex(ChannelBindings.structure(applicationData: data)) == parts.first)
        #expect(ChannelBindings.hex(ChannelBindings.ntlmToken(applicationData: data)) == parts.last)
    }
}
