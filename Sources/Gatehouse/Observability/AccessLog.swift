import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One line per request, in the format the configuration chose (`AccessLogText`, `AccessLogJSON`,
/// `AccessLogW3C`), to standard output or a file (`AccessLogWriter`).
///
/// Built for the hot path: each event loop formats its lines straight into a buffer of its own
/// (no string per line, no lock), and hands the buffer to the writer thread when it holds
/// `batchBytes` or `flushInterval` after its first line, whichever comes first. So a request costs
/// the formatting and no system call; lines from different loops stay whole because each batch is
/// one `write(2)` of whole lines.
public final class AccessLog: Sendable {
    typealias Entry = AccessLogEntry

    /// A loop hands its lines over once it holds this many bytes...
    static let batchBytes = 32 * 1024
    /// ...or this long after the first line of a batch.
    static let flushInterval = TimeAmount.milliseconds(250)

    let format: AccessLogFormat
    private let writer: AccessLogWriter
    /// Each event loop's buffer; empty when the log writes synchronously (unit tests).
    private let buffers: [ObjectIdentifier: AccessLogBuffer]

    /// The log `configuration` describes, with a buffer on every loop of `group`.
    init(configuration: AccessLogConfiguration, group: EventLoopGroup, logger: Logger) throws {
        self.format = configuration.format
        let header: (@Sendable (time_t) -> ByteBuffer)?
        if configuration.format == .w3c {
            header = { @Sendable now in AccessLogW3C.header(at: now) }
        } else {
            header = nil
        }
        self.writer = try AccessLogWriter(path: configuration.path, header: header, logger: logger)
        var buffers: [ObjectIdentifier: AccessLogBuffer] = [:]
        for loop in group.makeIterator() {
            buffers[ObjectIdentifier(loop)] = AccessLogBuffer(eventLoop: loop)
        }
        self.buffers = buffers
    }

    /// A log that writes each line at once to `fileDescriptor` (unit tests).
    init(fileDescriptor: Int32 = 1, format: AccessLogFormat = .text) {
        self.format = format
        self.writer = AccessLogWriter(fileDescriptor: fileDescriptor)
        self.buffers = [:]
    }

    /// Adds the line for `entry` to `eventLoop`'s batch (the caller runs on that loop).
    func record(_ entry: Entry, on eventLoop: EventLoop? = nil) {
        let now = time(nil)
        guard let eventLoop, let buffer = buffers[ObjectIdentifier(eventLoop)] else {
            var bytes = ByteBuffer()
            Self.write(entry, as: format, at: now, to: &bytes)
            writer.submit(bytes, lines: 1)
            return
        }
        Self.write(entry, as: format, at: now, to: &buffer.bytes)
        buffer.lines += 1
        if buffer.bytes.readableBytes >= Self.batchBytes {
            flush(buffer)
        } else if !buffer.flushScheduled {
            buffer.flushScheduled = true
            eventLoop.assumeIsolated().scheduleTask(in: Self.flushInterval) { [self] in
                flush(buffer)
            }
        }
    }

    /// Hands `buffer`'s lines to the writer (on the buffer's loop).
    private func flush(_ buffer: AccessLogBuffer) {
        buffer.flushScheduled = false
        guard buffer.lines > 0 else { return }
        writer.submit(buffer.handOver(), lines: buffer.lines)
        buffer.lines = 0
    }

    /// Opens the log file again by its path (SIGUSR1 after logrotate moved it).
    public func reopen() {
        writer.reopen()
    }

    /// Hands every loop's pending lines to the writer, then writes them and closes the file.
    func shutdown() async {
        for buffer in buffers.values {
            try? await buffer.eventLoop.submit { self.flush(buffer) }.get()
        }
        await writer.shutdown()
    }

    /// Appends the line for `entry` in `format`.
    static func write(_ entry: Entry, as format: AccessLogFormat, at now: time_t, to buffer: inout ByteBuffer) {
        switch format {
        case .text: AccessLogText.write(entry, at: now, to: &buffer)
        case .json: AccessLogJSON.write(entry, at: now, to: &buffer)
        case .w3c: AccessLogW3C.write(entry, at: now, to: &buffer)
        }
    }

    /// The line for `entry` in `format` as a string (tests, documentation).
    static func line(for entry: Entry, as format: AccessLogFormat = .text, at now: time_t) -> String {
        var buffer = ByteBuffer()
        write(entry, as: format, at: now, to: &buffer)
        return String(buffer: buffer)
    }
}

/// One event loop's batch of formatted lines. Only touched on its loop, hence `@unchecked Sendable`.
///
/// Two buffers take turns: the one being filled, and the one last handed to the writer thread.
/// Handing over swaps them and clears the new current one, which keeps its storage when the writer
/// has let go of it (it is then referenced only here), so a loop allocates no batch buffer in the
/// steady state. A fresh buffer per batch used to cost a 36 KiB malloc on the loop, a free on the
/// writer thread and glibc's consolidation of the loop's arena behind it: about 10,000 instructions
/// per request when batches are small. If the writer still holds the older buffer (a slow disk),
/// clearing it copies nothing but allocates new storage (copy-on-write), so the bytes the writer
/// is reading are never touched.
final class AccessLogBuffer: @unchecked Sendable {
    let eventLoop: EventLoop
    /// The batch being filled.
    var bytes: ByteBuffer
    /// The batch handed over last (or an empty buffer before the first hand-over).
    private var spare = ByteBuffer()
    var lines = 0
    var flushScheduled = false

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        self.bytes = ByteBuffer()
        self.bytes.reserveCapacity(AccessLog.batchBytes + 4096)
    }

    /// The batch to write; the next one starts empty in the other buffer.
    func handOver() -> ByteBuffer {
        let batch = bytes
        swap(&bytes, &spare)
        bytes.clear()
        if bytes.capacity < AccessLog.batchBytes + 4096 { bytes.reserveCapacity(AccessLog.batchBytes + 4096) }
        return batch
    }
}
