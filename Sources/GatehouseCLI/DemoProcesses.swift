import ArgumentParser
import Dispatch
import Foundation

/// Child processes and signals for the demo.
enum DemoProcesses {
    /// `mailbox-sim` next to the running `gatehouse` executable.
    static func simulatorPath() throws -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("mailbox-sim").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            StandardError.print("demo: \(path) not found; build it with `swift build` (make run does)")
            throw ExitCode(1)
        }
        return path
    }

    static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "::1" || host == "localhost"
    }

    /// A child process whose output lines are echoed with its name, and whose "ready" line is awaited.
    final class Child: @unchecked Sendable {
        let name: String
        private let process = Process()
        private let readyLine = LockedBox(false)

        init(name: String, executable: String, arguments: [String]) throws {
            self.name = name
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            let readyLine = self.readyLine
            let buffer = LockedBox(Data())
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                guard !data.isEmpty else {
                    handle.readabilityHandler = nil
                    return
                }
                let lines: [String] = buffer.with { pending in
                    pending.append(data)
                    var out: [String] = []
                    while let newline = pending.firstIndex(of: 0x0A) {
                        out.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                        pending.removeSubrange(pending.startIndex...newline)
                    }
                    return out
                }
                for line in lines {
                    if line.contains(" ready on ") {
                        readyLine.with { $0 = true }
                    } else {
                        FileHandle.standardOutput.write(Data("[\(name)] \(line)\n".utf8))
                    }
                }
            }
            process.terminationHandler = { process in
                if process.terminationReason == .uncaughtSignal || process.terminationStatus != 0 {
                    FileHandle.standardOutput.write(Data("[\(name)] exited (status \(process.terminationStatus))\n".utf8))
                }
            }
            try process.run()
        }

        var pid: Int32 { process.processIdentifier }

        func waitUntilReady(timeout: Duration) async throws {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if readyLine.with({ $0 }) { return }
                if !process.isRunning {
                    StandardError.print("demo: \(name) exited before it was ready (status \(process.terminationStatus))")
                    throw ExitCode(1)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            StandardError.print("demo: \(name) was not ready within \(timeout)")
            throw ExitCode(1)
        }

        /// Sends SIGTERM to this child (only ours, by PID) and waits for it.
        func terminate() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// Waits for SIGINT or SIGTERM.
    final class SignalWaiter: @unchecked Sendable {
        private var sources: [DispatchSourceSignal] = []
        private let stream: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation

        init() {
            (stream, continuation) = AsyncStream<Void>.makeStream()
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                let continuation = self.continuation
                source.setEventHandler { continuation.yield() }
                source.resume()
                sources.append(source)
            }
        }

        func wait() async {
            for await _ in stream { return }
        }
    }
}

/// A tiny lock-protected box (Foundation's NSLock), for state shared with pipe callbacks.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
