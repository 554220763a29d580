import NIOCore
import NIOEmbedded
import Testing

@testable import Gatehouse

/// When a request body is flushed to the backend: at the end of the client's read batch, or as soon
/// as `ProxiedRequest.backendFlushBytes` are waiting within it (an upload's batch of up to 16 reads
/// is not held whole), with every byte passed on in order, for Content-Length and chunked bodies.
@Suite struct ProxyUploadFlushTests {
    typealias Harness = ProxyBackendInMemoryTests.Harness
    private static let host = "Host: mail.contoso.com\r\n"

    /// One client read, without the end of the read batch.
    static func read(_ h: Harness, _ bytes: [UInt8]) {
        h.client.pipeline.syncOperations.fireChannelRead(NIOAny(ByteBuffer(bytes: bytes)))
        h.loop.run()
    }

    static func readBatchEnds(_ h: Harness) {
        h.client.pipeline.syncOperations.fireChannelReadComplete()
        h.loop.run()
    }

    /// The bytes written and flushed to `channel` since the last call.
    static func flushed(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    static func body(_ count: Int, seed: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 * 7 + seed) } }

    @Test func aContentLengthBodyIsFlushedEvery64KiBWithinABatch() throws {
        let h = try Harness()
        let limit = ProxiedRequest.backendFlushBytes
        let first = Self.body(limit / 2, seed: 1)
        let second = Self.body(limit / 2, seed: 2)
        let third = Self.body(1000, seed: 3)
        let length = first.count + second.count + third.count
        try h.send("POST /up HTTP/1.1\r\n\(Self.host)Content-Length: \(length)\r\n\r\n")
        let backend = try h.backend()
        let head = try Self.flushed(backend)
        #expect(String(decoding: head, as: UTF8.self).hasPrefix("POST /up HTTP/1.1\r\n"))

        Self.read(h, first)
        #expect(try Self.flushed(backend).isEmpty, "half the limit waits for the end of the batch")
        Self.read(h, second)
        #expect(try Self.flushed(backend) == first + second, "the limit reached: flushed within the batch")
        Self.read(h, third)
        #expect(try Self.flushed(backend).isEmpty)
        Self.readBatchEnds(h)
        #expect(try Self.flushed(backend) == third, "the rest at the end of the batch")

        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let toClient = try h.written(h.client)
        #expect(toClient.hasPrefix("HTTP/1.1 200 OK\r\n") && toClient.hasSuffix("\r\n\r\nok"))
    }

    @Test func aChunkedBodyReachesTheBackendWholeAndInOrder() throws {
        let h = try Harness()
        try h.send("POST /up HTTP/1.1\r\n\(Self.host)Transfer-Encoding: chunked\r\n\r\n")
        let backend = try h.backend()
        _ = try Self.flushed(backend)
        var sent: [UInt8] = []
        var wire: [UInt8] = []
        for seed in 0..<5 {
            let chunk = Self.body(30_000 + seed, seed: seed)
            sent += chunk
            wire += Array(String(chunk.count, radix: 16).utf8) + Array("\r\n".utf8) + chunk + Array("\r\n".utf8)
        }
        wire += Array("0\r\n\r\n".utf8)
        // The whole body in reads of 10,000 bytes, one batch: chunk boundaries fall anywhere.
        for start in stride(from: 0, to: wire.count, by: 10_000) {
            Self.read(h, Array(wire[start..<min(wire.count, start + 10_000)]))
        }
        Self.readBatchEnds(h)
        let toBackend = try Self.flushed(backend)
        // Decode what the backend got (chunked again) and compare.
        var received: [UInt8] = []
        var index = 0
        while true {
            let lineEnd = try #require(toBackend[index...].firstIndex(of: UInt8(ascii: "\r")))
            let size = try #require(Int(String(decoding: toBackend[index..<lineEnd], as: UTF8.self), radix: 16))
            index = lineEnd + 2
            if size == 0 { break }
            received += toBackend[index..<index + size]
            index += size + 2
        }
        #expect(received == sent)
        #expect(Array(toBackend[index...]) == Array("\r\n".utf8), "the last chunk ends the body, nothing after it")
    }
}
