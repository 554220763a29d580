import Foundation
import GatehouseHTTP2
import Testing

/// Drives the handler with nghttp2's own command-line clients.
@Suite("HTTP2 with nghttp and h2load", .serialized)
struct ExternalClientTests {
    @Test("nghttp GET: status 200, exact pattern body, connection-specific headers dropped")
    func nghttpGet() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let n = 300_000
        let result = try await runProcess("/usr/bin/nghttp", ["http://127.0.0.1:\(server.port)/bytes?n=\(n)"], timeout: 20)
        #expect(result.status == 0, "nghttp failed: \(result.stderr)")
        let body = [UInt8](result.stdout)
        #expect(body.count == n)
        #expect(body.enumerated().allSatisfy { $0.element == patternByte($0.offset) })
        // -nv: frames and headers only, body discarded.
        let verbose = try await runProcess("/usr/bin/nghttp", ["-nv", "http://127.0.0.1:\(server.port)/bytes?n=\(n)"], timeout: 20)
        #expect(verbose.status == 0)
        let text = verbose.stdoutText
        #expect(text.contains(":status: 200"))
        #expect(text.contains("content-length: \(n)"))
        #expect(!text.contains("connection: keep-alive"))
    }

    @Test("nghttp POST upload is echoed with length and checksum")
    func nghttpPost() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let n = 3_000_000
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-h2-upload-\(UUID()).bin")
        let bytes = (0..<n).map { UInt8(($0 * 7) & 0xff) }
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await runProcess("/usr/bin/nghttp", ["-d", file.path, "http://127.0.0.1:\(server.port)/echo"], timeout: 20)
        #expect(result.status == 0, "nghttp failed: \(result.stderr)")
        let sum = bytes.reduce(UInt64(0)) { $0 &+ UInt64($1) }
        #expect(result.stdoutText == "len=\(n) sum=\(sum)")
    }

    @Test("h2load -n 2000 -c 4 -m 10: every request succeeds")
    func h2loadSmall() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runProcess(
            "/usr/bin/h2load", ["-n", "2000", "-c", "4", "-m", "10", "http://127.0.0.1:\(server.port)/bytes?n=1024"], timeout: 40)
        #expect(result.status == 0, "h2load failed: \(result.stderr)")
        #expect(result.stdoutText.contains("2000 succeeded, 0 failed, 0 errored, 0 timeout"), "\(result.stdoutText)")
        #expect(result.stdoutText.contains("status codes: 2000 2xx"))
    }
}
