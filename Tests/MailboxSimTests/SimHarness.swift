import Foundation
import GatehouseTLS
import MailboxSimCore
import Testing

/// Starts a simulator in-process on 127.0.0.1:0 for one test and always stops it.
enum SimHarness {
    /// Runs `body` against a fresh simulator (plain HTTP unless `tls` is given).
    static func withSim<T>(requireNTLM: Bool = false, oabSize: UInt64 = 16 << 20,
                           tls: MailboxSimServer.TLSHandlerFactory? = nil,
                           caFile: String? = nil,
                           _ body: (SimUnderTest) async throws -> T) async throws -> T {
        let configuration = SimConfiguration(name: "mbx01", fqdn: "mbx01.contoso.lab", host: "127.0.0.1", port: 0,
                                             requireNTLM: requireNTLM, oabSize: oabSize)
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
