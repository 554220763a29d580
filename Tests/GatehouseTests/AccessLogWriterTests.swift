import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Gatehouse

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the lines go: per-loop batches handed over by size or after the flush interval, and the
/// file reopened by its path after a rename (logrotate), with the W3C header on each new file.
@Suite struct AccessLogWriterTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-\(UUID().uuidString)-\(name)").path
    }

    static func contents(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Polls (bounded) for the writer thread to have written what `predicate` wants.
    static func waitFor(_ path: String, _ predicate: (String) -> Bool) -> String {
        for _ in 0..<200 where !predicate(contents(path)) { usleep(10_000) }
        return contents(path)
    }

    /// An access log of `format` writing to a fresh temporary file, batched on an embedded loop
    /// whose time the test advances. The caller unlinks `path`.
    static func embeddedLog(_ format: AccessLogFormat, _ name: String) throws -> (log: AccessLog, loop: EmbeddedEventLoop, path: String) {
        let path = temporaryPath(name)
        let loop = EmbeddedEventLoop()
        let log = try AccessLog(
            configuration: AccessLogConfiguration(format: format, path: path), group: loop,
            logger: Logger(label: "test"))
        return (log, loop, path)
    }

    @Test func reopenAfterRenameStartsANewFileWithTheHeader() throws {
        let path = Self.temporaryPath("w3c.log")
        defer {
            unlink(path)
            unlink(path + ".1")
        }
        let writer = try AccessLogWriter(
            path: path, header: { AccessLogW3C.header(at: $0) },
            logger: Logger(label: "test"), threaded: false)
        writer.submit(ByteBuffer(string: "first\n"), lines: 1)
        #expect(rename(path, path + ".1") == 0)
        // Until the reopen, lines still go to the renamed file (the descriptor follows it).
        writer.submit(ByteBuffer(string: "second\n"), lines: 1)
        writer.reopen()
        writer.submit(ByteBuffer(string: "third\n"), lines: 1)
        let old = Self.contents(path + ".1")
        let new = Self.contents(path)
        #expect(old.hasPrefix("#Software: Gatehouse"))
        #expect(old.hasSuffix("\nfirst\nsecond\n"))
        #expect(new.hasPrefix("#Software: Gatehouse"))
        #expect(new.hasSuffix("\nthird\n"))
        #expect(!new.contains("second"))
    }

    @Test func aLoopsLinesWaitForTheFlushIntervalThenReachTheFile() throws {
        let (log, loop, path) = try Self.embeddedLog(.json, "json.log")
        defer { unlink(path) }
        log.record(AccessLogFormatTests.full, on: loop)
        log.record(AccessLogFormatTests.full, on: loop)
        loop.advanceTime(by: AccessLog.flushInterval - .milliseconds(1))
        // Nothing is handed to the writer before the interval (the writer never sees the batch).
        usleep(50_000)
        #expect(Self.contents(path).isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        let written = Self.waitFor(path) { $0.split(separator: "\n").count == 2 }
        #expect(written.split(separator: "\n").count == 2)
        #expect(written.hasSuffix("}\n"))
    }

    @Test func aFullBatchIsHandedOverAtOnce() throws {
        let (log, loop, path) = try Self.embeddedLog(.text, "text.log")
        defer { unlink(path) }
        let line = AccessLog.line(for: AccessLogFormatTests.full, at: 0)
        let count = AccessLog.batchBytes / line.utf8.count + 1
        for _ in 0..<count { log.record(AccessLogFormatTests.full, on: loop) }
        // No time passes: the size alone sent the batch.
        let written = Self.waitFor(path) { $0.split(separator: "\n").count == count }
        #expect(written.split(separator: "\n").count == count)
    }

    /// The address of a buffer's storage (which allocation holds its bytes).
    static func storage(_ buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    @Test func handingOverReusesTheBufferTheWriterLetGoOf() {
        let buffer = AccessLogBuffer(eventLoop: EmbeddedEventLoop())
        buffer.bytes.writeString("first\n")
        var first: ByteBuffer? = buffer.handOver()
        let firstStorage = Self.storage(first!)
        #expect(String(buffer: first!) == "first\n")
        #expect(buffer.bytes.readableBytes == 0)
        #expect(buffer.bytes.capacity >= AccessLog.batchBytes)
        buffer.bytes.writeString("second\n")
        first = nil  // the writer thread has written the first batch and dropped it
        let second = buffer.handOver()
        #expect(String(buffer: second) == "second\n")
        // The next batch is filled in the first batch's storage: no allocation.
        #expect(Self.storage(buffer.bytes) == firstStorage)
        #expect(buffer.bytes.readableBytes == 0)
        #expect(buffer.bytes.capacity >= AccessLog.batchBytes)
    }

    @Test func aBatchTheWriterStillHoldsIsNeverOverwritten() {
        let buffer = AccessLogBuffer(eventLoop: EmbeddedEventLoop())
        buffer.bytes.writeString("first\n")
        let first = buffer.handOver()  // still being written
        buffer.bytes.writeString("second\n")
        let second = buffer.handOver()
        buffer.bytes.writeString("third\n")
        #expect(Self.storage(buffer.bytes) != Self.storage(first))
        #expect(String(buffer: first) == "first\n")
        #expect(String(buffer: second) == "second\n")
        #expect(String(buffer: buffer.bytes) == "third\n")
    }

    @Test func manyBatchesInARowArriveWholeAndComplete() throws {
        let (log, loop, path) = try Self.embeddedLog(.text, "batches.log")
        defer { unlink(path) }
        let line = AccessLog.line(for: AccessLogFormatTests.full, at: 0)
        // Ten full batches handed over back to back: the writer thread is still writing earlier
        // ones while the loop fills the buffers again.
        let count = 10 * (AccessLog.batchBytes / line.utf8.count + 1)
        for _ in 0..<count { log.record(AccessLogFormatTests.full, on: loop) }
        loop.advanceTime(by: AccessLog.flushInterval)
        let written = Self.waitFor(path) { $0.split(separator: "\n").count == count }
        let lines = written.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == count + 1)
        #expect(lines.last == "")
        // Every line whole: what the formatter writes after the time (which differs).
        func afterTime(_ text: Substring) -> Substring? { text.split(separator: " ", maxSplits: 1).last }
        let expected = afterTime(Substring(line.dropLast()))
        #expect(expected?.hasPrefix("192.0.2.7 \"GET ") == true)
        #expect(lines.dropLast().allSatisfy { afterTime($0) == expected })
    }
}
