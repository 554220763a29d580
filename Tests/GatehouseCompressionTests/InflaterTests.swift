import GatehouseCompression
import NIOCore
import Testing

/// The Inflater must read what other encoders write, stream in arbitrary pieces, and refuse
/// corrupt, truncated and oversized input.
@Suite("Inflater")
struct InflaterTests {
    /// Decompresses `compressed` fed in pieces of `pieceSize` bytes.
    private func inflate(_ compressed: [UInt8], coding: ContentCoding, pieceSize: Int, limit: Int = 64 << 20) throws -> [UInt8] {
        let inflater = try Inflater(coding: coding, maximumOutputSize: limit)
        var output = ByteBuffer()
        for piece in TestData.chunks(compressed, sizes: [pieceSize]) {
            try inflater.decompress(ByteBuffer(bytes: piece), into: &output)
        }
        try inflater.finish()
        #expect(inflater.totalBytesOut == output.readableBytes)
        return output.bytes
    }

    @Test("reads Python zlib output", arguments: ContentCodingForTests.allCases, [0, 1, 1024, 1 << 20])
    func readsPythonOutput(coding: ContentCodingForTests, size: Int) throws {
        let input = TestData.text(count: size)
        let compressed = try PythonZlib.compress(input, coding: coding)
        #expect(try inflate(compressed, coding: coding.coding, pieceSize: 1 << 20) == input)
    }

    @Test("round-trips Deflater output fed in small pieces", arguments: ContentCodingForTests.allCases)
    func roundTripsInPieces(coding: ContentCodingForTests) throws {
        for input in [TestData.text(count: 300_000), TestData.randomish(count: 100_000)] {
            let deflater = try Deflater(coding: coding.coding)
            var compressed = ByteBuffer()
            for chunk in TestData.chunks(input, sizes: [1000, 7, 40_000]) {
                try deflater.compress(ByteBuffer(bytes: chunk), into: &compressed, flush: .sync)
            }
            try deflater.compress(ByteBuffer(), into: &compressed, flush: .finish)
            #expect(try inflate(compressed.bytes, coding: coding.coding, pieceSize: 7) == input)
        }
    }

    @Test("output exactly at the limit is allowed; one byte over throws")
    func outputLimit() throws {
        let input = TestData.text(count: 50_000)
        let compressed = try Deflater(coding: .gzip).compressAll(ByteBuffer(bytes: input)).bytes
        #expect(try inflate(compressed, coding: .gzip, pieceSize: 512, limit: input.count) == input)

        let inflater = try Inflater(coding: .gzip, maximumOutputSize: input.count - 1)
        var output = ByteBuffer()
        do {
            try inflater.decompress(ByteBuffer(bytes: compressed), into: &output)
            Issue.record("expected outputLimitExceeded")
        } catch {
            #expect(error.code == .outputLimitExceeded)
        }
        #expect(output.readableBytes <= input.count - 1)
    }

    @Test("a tiny bomb is stopped at the limit")
    func bombStopped() throws {
        // 100 MiB of zeros compresses to ~100 KiB; the limit stops it after 1 MiB of output.
        let deflater = try Deflater(coding: .deflate, level: 9)
        var compressed = ByteBuffer()
        let zeros = ByteBuffer(repeating: 0, count: 1 << 20)
        for _ in 0..<100 { try deflater.compress(zeros, into: &compressed, flush: .none) }
        try deflater.compress(ByteBuffer(), into: &compressed, flush: .finish)
        let inflater = try Inflater(coding: .deflate, maximumOutputSize: 1 << 20)
        var output = ByteBuffer()
        #expect(throws: CompressionError.self) { try inflater.decompress(compressed, into: &output) }
        #expect(output.readableBytes == 1 << 20)
    }

    @Test("corrupt data, the wrong wrapper and truncation are corruptData")
    func rejectsBadInput() throws {
        let good = try Deflater(coding: .gzip).compressAll(ByteBuffer(bytes: TestData.text(count: 10_000))).bytes

        var flipped = good
        flipped[flipped.count - 6] ^= 0xff  // inside the CRC-32 trailer
        #expect(throws: CompressionError(.corruptData, detail: "inflate: incorrect data check")) {
            _ = try inflate(flipped, coding: .gzip, pieceSize: 100_000)
        }

        // gzip bytes given to a zlib-format inflater: the header check fails.
        let wrongWrapper = try Inflater(coding: .deflate, maximumOutputSize: 1 << 20)
        var sink = ByteBuffer()
        do {
            try wrongWrapper.decompress(ByteBuffer(bytes: good), into: &sink)
            Issue.record("gzip data must not decode as zlib")
        } catch {
            #expect(error.code == .corruptData)
        }

        let truncated = try Inflater(coding: .gzip, maximumOutputSize: 1 << 20)
        try truncated.decompress(ByteBuffer(bytes: good.dropLast(3)), into: &sink)
        #expect(!truncated.isFinished)
        #expect(throws: CompressionError.self) { try truncated.finish() }
    }
}
