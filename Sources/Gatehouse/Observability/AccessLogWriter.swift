import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the access log's bytes end up: standard output or a file, written by one thread of its own
/// so a slow disk or a stalled pipe never holds up an event loop. Event loops hand it whole batches
/// of lines (`AccessLogBuffer`); it writes each batch with `write(2)` in order, so lines stay whole.
///
/// A file is opened for appending and reopened on `reopen()` (SIGUSR1, logrotate's convention):
/// after `mv gatehouse.log gatehouse.log.1`, the next batches go to a new `gatehouse.log`. Formats
/// with a header (W3C) write it at the start of every file they open.
///
/// The backlog is bounded: when more than `maxBacklog` bytes wait (the disk or the reader of
/// standard output does not keep up), further batches are dropped and counted, never queued
/// without limit, and a warning says how many lines were lost.
final class AccessLogWriter: @unchecked Sendable {
    /// Bytes handed over and not yet written beyond which batches are dropped.
    static let maxBacklog = 16 * 1024 * 1024

    private let path: String?
    private let header: (@Sendable (time_t) -> ByteBuffer)?
    private let logger: Logger
    /// The writer thread; nil writes on the caller's thread (unit tests).
    private let thread: NIOThreadPool?
    /// Touched only on the writer thread once running (or by the caller when there is no thread).
    private var fileDescriptor: Int32
    private let ownsDescriptor: Bool
    private let backlog = ManagedAtomic<Int>(0)
    /// Lines dropped because the backlog was full, not yet reported.
    private let dropped = ManagedAtomic<Int>(0)
    /// After `shutdown` the thread is gone: a late batch (a request that finished during shutdown)
    /// is written on its caller's thread under this lock, or dropped once the file is closed, so
    /// it can never reach a descriptor number the process reused for something else.
    private let closing = NIOLockedValueBox<Bool>(false)

    /// A writer to `path` (nil: standard output), on a thread of its own when `threaded`.
    init(path: String?, header: (@Sendable (time_t) -> ByteBuffer)?, logger: Logger, threaded: Bool = true) throws {
        self.path = path
        self.header = header
        self.logger = logger
        if let path {
            fileDescriptor = try Self.openForAppend(path)
            ownsDescriptor = true
        } else {
            fileDescriptor = 1
            ownsDescriptor = false
        }
        if threaded {
            let thread = NIOThreadPool(numberOfThreads: 1)
            thread.start()
            self.thread = thread
        } else {
            thread = nil
        }
        if let header { writeNow(header(time(nil))) }
    }

    /// A synchronous writer to an open descriptor the caller owns (unit tests).
    init(fileDescriptor: Int32, logger: Logger = Logger(label: "gatehouse.access")) {
        self.path = nil
        self.header = nil
        self.logger = logger
        self.thread = nil
        self.fileDescriptor = fileDescriptor
        self.ownsDescriptor = false
    }

    /// Queues `bytes` (whole lines, `lines` of them) for writing, or drops them when the backlog is full.
    func submit(_ bytes: ByteBuffer, lines: Int) {
        guard let thread else {
            writeNow(bytes)
            return
        }
        let size = bytes.readableBytes
        guard backlog.loadThenWrappingIncrement(by: size, ordering: .relaxed) + size <= Self.maxBacklog else {
            backlog.wrappingDecrement(by: size, ordering: .relaxed)
            dropped.wrappingIncrement(by: lines, ordering: .relaxed)
            return
        }
        thread.submit { state in
            if case .cancelled = state {
                // After shutdown: written here, unless the file is closed already.
                self.closing.withLockedValue { closed in if !closed { self.writeNow(bytes) } }
                self.backlog.wrappingDecrement(by: size, ordering: .relaxed)
                return
            }
            self.writeNow(bytes)
            self.backlog.wrappingDecrement(by: size, ordering: .relaxed)
            let lost = self.dropped.exchange(0, ordering: .relaxed)
            if lost > 0 {
                self.logger.warning("access log writes fell behind; lines dropped", metadata: ["lines": "\(lost)"])
            }
        }
    }

    /// Opens the file again by its path (after logrotate moved it), in order with the writes.
    func reopen() {
        guard path != nil else { return }
        guard let thread else {
            reopenNow()
            return
        }
        thread.submit { state in
            if case .active = state { self.reopenNow() }
        }
    }

    /// Writes what is queued, stops the thread and closes the file.
    func shutdown() async {
        if let thread { try? await thread.shutdownGracefully() }
        closing.withLockedValue { closed in
            guard !closed else { return }
            closed = true
            if ownsDescriptor { close(fileDescriptor) }
        }
    }

    private func reopenNow() {
        guard let path else { return }
        do {
            let fresh = try Self.openForAppend(path)
            let old = fileDescriptor
            fileDescriptor = fresh
            close(old)
            if let header { writeNow(header(time(nil))) }
            logger.info("access log reopened", metadata: ["path": "\(path)"])
        } catch {
            logger.error(
                "access log not reopened; still writing to the previous file",
                metadata: [
                    "path": "\(path)", "error": "\(error)"
                ])
        }
    }

    /// `write(2)` until all of `bytes` is out; EINTR is retried, any other failure (a closed
    /// standard output, a full disk) drops the rest: never block forever or crash.
    private func writeNow(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// Opens `path` for appending, created with mode 0640 when absent.
    static func openForAppend(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw AccessLogError(message: "cannot open access log \(path): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }
}

/// The access log file could not be opened.
public struct AccessLogError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
