import NIOCore
import NIOEmbedded
import Testing

@testable import GatehouseTLS

/// How one flush's plaintext becomes TLS records: buffers of a record or more are encrypted where
/// they lie, runs of small ones (head, chunk framing, end) share a record, a batch larger than the
/// write slice leaves in several ciphertext writes, and the peer always reads every byte in order.
@Suite struct EncryptBatchTests {
    /// A connected pair after the handshake, the client's post-handshake output delivered.
    static func connectedPair() throws -> EmbeddedHandshakeTests.Pair {
        let fixture = try Fixture()
        let pair = try EmbeddedHandshakeTests.Pair(fixture: fixture, clientContext: try fixture.client())
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try pair.pump()
        #expect(pair.clientLog.handshakeDone && pair.serverLog.handshakeDone)
        return pair
    }

    /// `count` bytes of a pattern that differs at every position of a part (and between parts).
    static func part(_ count: Int, seed: UInt8) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) })
    }

    /// The ciphertext writes the client made since the last call, and the TLS records in them.
    static func ciphertext(of channel: EmbeddedChannel) throws -> (writes: [ByteBuffer], records: [Int]) {
        var writes: [ByteBuffer] = []
        while let next = try channel.readOutbound(as: ByteBuffer.self) { writes.append(next) }
        var all = ByteBuffer()
        for var write in writes { all.writeBuffer(&write) }
        var records: [Int] = []
        while all.readableBytes >= 5 {
            let header = all.readBytes(length: 5)!
            let length = Int(header[3]) << 8 | Int(header[4])
            records.append(length)
            all.moveReaderIndex(forwardBy: length)
        }
        #expect(all.readableBytes == 0, "the ciphertext ends on a record boundary")
        return (writes, records)
    }

    @Test func smallRunsShareARecordAndLargeBuffersAreEncryptedInPlace() throws {
        let pair = try Self.connectedPair()
        // Like an HTTP/1.1 chunked body: size line, chunk, CRLF, size line, chunk, CRLF, last chunk.
        let parts = [
            ByteBuffer(string: "4000\r\n"), Self.part(16_384, seed: 1), ByteBuffer(string: "\r\n"),
            ByteBuffer(string: "5000\r\n"), Self.part(20_480, seed: 2), ByteBuffer(string: "\r\n0\r\n\r\n")
        ]
        var expected: [UInt8] = []
        for part in parts {
            expected += part.readableBytesView
            pair.client.write(part, promise: nil)
        }
        pair.client.flush()
        let (writes, records) = try Self.ciphertext(of: pair.client)
        #expect(writes.count == 1, "one ciphertext write per flush")
        // "4000\r\n" | 16 KiB | "\r\n5000\r\n" | 16 KiB + 4 KiB | "\r\n0\r\n\r\n": six records (one write
        // per part would make seven; copying the whole batch into one buffer first, three).
        #expect(records.count == 6)
        for var write in writes { try pair.server.writeInbound(write.readSlice(length: write.readableBytes)!) }
        #expect(pair.serverLog.bytes == expected)
    }

    @Test func aBatchBeyondTheWriteSliceLeavesInSeveralWritesIntactAndInOrder() throws {
        let pair = try Self.connectedPair()
        var expected: [UInt8] = []
        var futures: [EventLoopFuture<Void>] = []
        for seed in 0..<5 {
            let part = Self.part(100 * 1024 + seed, seed: UInt8(seed))
            expected += part.readableBytesView
            futures.append(pair.client.write(part))
            futures.append(pair.client.write(ByteBuffer(string: "|")))
            expected += Array("|".utf8)
        }
        pair.client.flush()
        let (writes, records) = try Self.ciphertext(of: pair.client)
        // 500 KiB of plaintext: at most 256 KiB of it per ciphertext buffer.
        #expect(writes.count >= 2)
        #expect(writes.allSatisfy { $0.readableBytes <= 256 * 1024 + 1024 })
        #expect(records.allSatisfy { $0 <= 16_384 + 256 })
        for future in futures { try future.wait() }
        for var write in writes { try pair.server.writeInbound(write.readSlice(length: write.readableBytes)!) }
        #expect(pair.serverLog.bytes == expected)
    }
}
