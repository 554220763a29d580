import Foundation
import Testing

/// The `mailbox-sim` executable: its ready line, signals, and argument errors.
@Suite("mailbox-sim CLI")
struct SimCLITests {
    /// The built executable, next to the test bundle (SwiftPM puts products in one directory).
    static func executable() throws -> String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mailbox-sim").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/mailbox-sim").path
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ClientMissing("mailbox-sim is not built (looked at \(candidates)); run `swift build --product mailbox-sim` first")
        }
        return found
    }

    @Test("prints exactly one ready line, honours its flags, and exits 0 on SIGTERM and on SIGINT", arguments: [SIGTERM, SIGINT])
    func readyAndSignals(signal: Int32) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mbxsim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        process.arguments = [
            "--name", "mbx07", "--fqdn", "mbx07.fabrikam.lab", "--listen", "127.0.0.1:0", "--plain",
            "--require-ntlm", "--oab-size", "1234"
        ]
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = FileHandle.nullDevice
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = {
            exited.continuation.yield($0.terminationStatus)
            exited.continuation.finish()
        }
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var output = ""
        for _ in 0..<200 where !output.contains("\n") {
            try await Task.sleep(for: .milliseconds(50))
            output = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        }
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1)
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("mailbox-sim mbx07 ready on http://127.0.0.1:"))
        let url = String(line.split(separator: " ").last ?? "")
        let health = try await ExternalClient.curl(["-i", url + "/ews/healthcheck.htm"])
        let responses = try CurlResponse.parseAll(health.stdout)
        #expect(responses.first?.text == "200 OK<br/>mbx07.fabrikam.lab")
        #expect(responses.first?.header("X-BEServer") == "mbx07")
        // --require-ntlm and --oab-size reach the server.
        let ews = try CurlResponse.parseAll(try await ExternalClient.curl(["-i", url + "/EWS/Exchange.asmx"]).stdout).first
        #expect(ews?.status == 401)
        let oab = try await ExternalClient.curl([
            "-o", "/dev/null", "-w", "%{size_download}", "--ntlm", "-u", "CONTOSO\\carol:x",
            url + "/OAB/g/g-data-1.lzx"
        ])
        #expect(oab.text == "1234")

        kill(process.processIdentifier, signal)
        let timeout = Task {
            try await Task.sleep(for: .seconds(10))
            process.terminate()
        }
        var status: Int32 = -1
        for await code in exited.stream { status = code }
        timeout.cancel()
        #expect(status == 0)
    }

    @Test("with --cert/--key it serves TLS by default and says https in its ready line")
    func tls() async throws {
        let files = try TestCertificate.shared.get()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mbxsim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        process.arguments = ["--name", "mbx01", "--listen", "127.0.0.1:0", "--cert", files.certificate, "--key", files.key]
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var output = ""
        for _ in 0..<200 where !output.contains("\n") {
            try await Task.sleep(for: .milliseconds(50))
            output = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        }
        #expect(output.hasPrefix("mailbox-sim mbx01 ready on https://127.0.0.1:"))
        let url = output.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        let result = try await ExternalClient.curl(["--cacert", files.certificate, url + "/owa/healthcheck.htm"])
        #expect(result.text == "200 OK<br/>mbx01.contoso.lab", "\(result.stderr)")
    }

    @Test(
        "argument errors say what is wrong",
        arguments: [
            (["--listen", "127.0.0.1:0"], "--cert"),
            (["--plain", "--listen", "localhost"], "HOST:PORT"),
            (["--plain", "--listen", "127.0.0.1:70000"], "0 to 65535"),
            (["--listen", "127.0.0.1:0", "--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem"], "/nonexistent/cert.pem")
        ])
    func argumentErrors(arguments: [String], message: String) async throws {
        let result = try await ExternalClient.run(try Self.executable(), arguments, timeout: 10)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
