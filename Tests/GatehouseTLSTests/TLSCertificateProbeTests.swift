import Foundation
import Testing

@testable import GatehouseTLS

/// `TLSCertificateProbe` (`gatehouse check --probe`): the certificate a live server presents for
/// an SNI name, and a clear error, within the timeout, when nothing answers.
@Suite struct TLSCertificateProbeTests {
    @Test("returns the certificate the server selects for the SNI name")
    func presentedBySNI() async throws {
        let pki = try TestPKI()
        let mail = try pki.selfSigned(cn: "mail.contoso.lab", dns: ["mail.contoso.lab"], key: .rsa)
        let other = try pki.selfSigned(cn: "other.contoso.lab", dns: ["other.contoso.lab"], key: .rsa)
        let store = try CertificateStore(
            certificates: [pki.certified(mail), pki.certified(other)], defaultCertificate: nil,
            policy: .exchangeDefault, alpn: ["http/1.1"], strictSNI: false)
        let bed = TLSTestBed()
        try await bed.startServer(store: store)
        for (name, files) in [("other.contoso.lab", other), ("mail.contoso.lab", mail)] {
            let presented = try? TLSCertificateProbe.presentedCertificate(host: "127.0.0.1", port: bed.port, serverName: name)
            let expected = try X509Certificate.chain(pemFile: files.certificate)[0]
            #expect(presented?.derBytes == expected.derBytes, "\(name)")
        }
        await bed.shutdown()
    }

    @Test("a port nobody listens on is an I/O error naming the address")
    func refused() throws {
        let socket = try TestPKI.run(
            "/usr/bin/env", ["python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        let port = Int(socket.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1
        do {
            _ = try TLSCertificateProbe.presentedCertificate(host: "127.0.0.1", port: port, serverName: "mail.contoso.lab", timeout: 2)
            Issue.record("a certificate came from a closed port")
        } catch let error as TLSError {
            #expect(error.kind == .io && error.message.contains("127.0.0.1:\(port): cannot connect"), "\(error)")
        }
    }
}
