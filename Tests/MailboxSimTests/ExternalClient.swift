import Foundation
import Testing

/// Runs real external clients (curl, python3) with a time limit, capturing their output in files
/// so a chatty client can never block on a full pipe.
enum ExternalClient {
    /// What a finished client produced.
    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs `executable` with `arguments`; kills it after `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil, timeout: Double = 20) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mbxsim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("out")
        let errURL = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        if let stdin {
            let inURL = directory.appendingPathComponent("in")
            try stdin.write(to: inURL)
            process.standardInput = try FileHandle(forReadingFrom: inURL)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                if process.isRunning { process.terminate() }
            }
        }
        return Result(
            status: status, stdout: (try? Data(contentsOf: outURL)) ?? Data(),
            stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }

    /// Runs curl; fails the test with a clear message when curl is not installed.
    static func curl(_ arguments: [String], stdin: Data? = nil, timeout: Double = 20) async throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else {
            throw ClientMissing("curl is not installed (/usr/bin/curl); install it with `apt-get install curl`")
        }
        return try await run("/usr/bin/curl", ["-sS", "--max-time", String(Int(timeout))] + arguments, stdin: stdin, timeout: timeout + 2)
    }

    /// Runs a python3 script (given as text); `modules` must be importable, else the test fails
    /// saying that `make deps` installs them.
    static func python(_ script: String, arguments: [String] = [], modules: [String] = [], timeout: Double = 30) async throws -> Result {
        // The python3 on PATH is the one `make deps` (pip) installs modules for.
        let fallback = ["/usr/local/bin/python3", "/usr/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python = which("python3") ?? fallback else {
            throw ClientMissing("python3 is not installed")
        }
        if !modules.isEmpty {
            let check = try await run(python, ["-c", "import " + modules.joined(separator: ", ")], timeout: 20)
            if check.status != 0 {
                let reason = check.stderr.split(separator: "\n").last.map(String.init) ?? "import failed"
                throw ClientMissing(
                    "python3 cannot import \(modules.joined(separator: ", ")) (\(reason)): `make deps` installs them (pip install pyspnego requests-ntlm h2)"
                )
            }
        }
        return try await run(python, ["-c", script] + arguments, timeout: timeout)
    }

    /// The first `name` executable on PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A required external client or module is not installed.
struct ClientMissing: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
