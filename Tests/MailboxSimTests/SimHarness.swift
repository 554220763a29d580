import Foundation
import GatehouseTLS
import MailboxSimCore
import Testing

/// Starts a simulator in-process on 127.0.0.1:0 for one test and always stops it.
enum SimHarness {
    /// Runs `body` against a fresh simulator: TLS with a self-signed certificate (as `mailbox-sim`
    /// runs by default) unless `plain`.
    static func withSim<T>(
        requireNTLM: Bool = false, oabSize: UInt64 = 16 << 20, plain: Bool = false,
        extendedProtection: ExtendedProtectionPolicy = ExtendedProtectionPolicy(),
        _ body: (SimUnderTest) async throws -> T
    ) async throws -> T {
        var configuration = SimConfiguration(
            name: "mbx01", fqdn: "mbx01.contoso.lab", host: "127.0.0.1", port: 0,
            requireNTLM: requireNTLM, oabSize: oabSize, extendedProtection: extendedProtection)
        var tls: MailboxSimServer.TLSHandlerFactory?
        var caFile: String?
        if !plain {
            let files = try TestCertificate.shared.get()
            let loaded = try SimTLS.handlerFactory(certificatePath: files.certificate, keyPath: files.key)
            tls = loaded.factory
            configuration.channelBindingToken = ChannelBindings.ntlmToken(applicationData: loaded.leaf.channelBindingApplicationData)
            caFile = files.certificate
        }
        let server = try await MailboxSimServer.start(configuration: configuration, tls: tls)
        do {
            let result = try await body(SimUnderTest(server: server, caFile: caFile))
            await server.close()
            return result
        } catch {
            await server.close()
            throw error
        }
    }

    /// The SHA-256 (hex) of the first `count` bytes of the simulator's deterministic pattern.
    static func patternDigest(_ count: Int) -> String {
        let hasher = SHA256Hasher()
        var remaining = count
        var offset = 0
        let block = SimPattern.bytes(count: 251 * 64 + 251)
        while remaining > 0 {
            let length = min(remaining, 251 * 64)
            let start = offset % 251
            block[start..<start + length].withUnsafeBytes { hasher.update($0) }
            remaining -= length
            offset += length
        }
        return hasher.finalize()
    }

    /// Parses a JSON object from a response body.
    static func json(_ data: Data) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ClientMissing("response is not a JSON object: \(String(decoding: data, as: UTF8.self))")
        }
        return object
    }
}

/// The self-signed certificate the TLS tests give the simulator, made once per test process with
/// the openssl command line, shaped like Exchange's own (CN=mbx01, SANs mbx01 and its FQDN), plus
/// 127.0.0.1 so clients can verify it when connecting by address.
enum TestCertificate {
    static let shared: Result<(certificate: String, key: String), ClientMissing> = {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            return .failure(ClientMissing("openssl is not installed (/usr/bin/openssl); install it with `apt-get install openssl`"))
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mbxsim-pki-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let certificate = directory.appendingPathComponent("cert.pem").path
            let key = directory.appendingPathComponent("key.pem").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mbx01",
                "-addext", "subjectAltName=DNS:mbx01,DNS:mbx01.contoso.lab,IP:127.0.0.1",
                "-days", "30", "-keyout", key, "-out", certificate
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                return .failure(ClientMissing("openssl req failed with status \(process.terminationStatus)"))
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
            return .success((certificate, key))
        } catch {
            return .failure(ClientMissing("cannot make a test certificate: \(error)"))
        }
    }()
}
