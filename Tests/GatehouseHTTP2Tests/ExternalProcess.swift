import Foundation

/// The outcome of running an external client.
struct ProcessResult {
    var status: Int32
    var stdout: Data
    var stderr: String
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs an external program with a hard time bound (killed after `timeout` seconds), collecting
/// its output without blocking a cooperative thread.
func runProcess(_ path: String, _ arguments: [String], timeout: Double = 30) async throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    // Drain the pipes while the process runs so large outputs cannot block it.
    let outTask = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }
    let errTask = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
        process.terminationHandler = { _ in continuation.resume() }
        do { try process.run() } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
            return
        }
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            // Ends only the process we started, by its id.
            if process.isRunning { kill(pid, SIGKILL) }
        }
    }
    let stdout = await outTask.value
    let stderr = await errTask.value
    return ProcessResult(status: process.terminationStatus, stdout: stdout, stderr: String(decoding: stderr, as: UTF8.self))
}

/// Whether Python's `h2` package (and with it `hpack`) is importable.
func pythonH2Available() async -> Bool {
    guard let result = try? await runProcess("/usr/bin/env", ["python3", "-c", "import h2, hpack"], timeout: 20) else { return false }
    return result.status == 0
}
