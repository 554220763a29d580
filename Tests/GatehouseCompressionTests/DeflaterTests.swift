import GatehouseCompression
import NIOCore
import Testing

/// Deflater output must be what an independent decoder (Python's zlib) reads back byte for byte.
@Suite("Deflater")
struct DeflaterTests {
    /// Compresses `input` in one `.finish` call.
    private func compressOneShot(_ input: [UInt8], coding: ContentCodingForTests, level: Int = 6) throws -> [UInt8] {
        let deflater = try Deflater(coding: coding.coding, level: level)
        var output = ByteBuffer()
        try deflater.compress(ByteBuffer(bytes: input), into: &output, flush: .finish)
        #expect(deflater.isFinished)
        #expect(deflater.totalBytesIn == input.count)
        #expect(deflater.totalBytesOut == output.readableBytes)
        return output.bytes
    }

    @Test("small bodies round-trip through Python zlib", arguments: ContentCodingForTests.allCases, [0, 1, 1024])
    func smallBodiesRoundTrip(coding: ContentCodingForTests, size: Int) throws {
        for input in [TestData.text(count: size), TestData.randomish(count: size)] {
            let compressed = try compressOneShot(input, coding: coding)
            #expect(try PythonZlib.decompress(compressed, coding: coding) == input)
        }
    }

    @Test("10 MiB random-ish body in one call round-trips", arguments: ContentCodingForTests.allCases)
    func largeRandomBodyRoundTrips(coding: ContentCodingForTests) throws {
        let input = TestData.randomish(count: 10 << 20)
        let compressed = try compressOneShot(input, coding: coding)
        // Incompressible input becomes stored blocks: slightly larger, never much larger.
        #expect(compressed.count > input.count && compressed.count < input.count + input.count / 100)
        #expect(try PythonZlib.decompress(compressed, coding: coding) == input)
    }

    @Test("10 MiB text body streamed in 16 KiB chunks round-trips", arguments: ContentCodingForTests.allCases)
    func largeTextBodyStreamedRoundTrips(coding: ContentCodingForTests) throws {
        let input = TestData.text(count: 10 << 20)
        let deflater = try Deflater(coding: coding.coding)
        var output = ByteBuffer()
        for chunk in TestData.chunks(input, sizes: [16 * 1024]) {
            try deflater.compress(ByteBuffer(bytes: chunk), into: &output, flush: .none)
        }
        try deflater.compress(ByteBuffer(), into: &output, flush: .finish)
        #expect(output.readableBytes < input.count / 4, "text must actually compress")
        #expect(try PythonZlib.decompress(output.bytes, coding: coding) == input)
    }

    @Test(
        "after each sync flush a streaming decompressor yields exactly the input so far",
        arguments: ContentCodingForTests.allCases)
    func syncFlushDeliversEachChunk(coding: ContentCodingForTests) throws {
        // Uneven chunk sizes, including one larger than zlib's 64 KiB pending buffer.
        let chunks = TestData.chunks(TestData.text(count: 200_000), sizes: [1, 37, 5000, 70_000, 3, 16_384])
        let deflater = try Deflater(coding: coding.coding)
        var segments: [[UInt8]] = []
        for chunk in chunks {
            var output = ByteBuffer()
            try deflater.compress(ByteBuffer(bytes: chunk), into: &output, flush: .sync)
            // A sync flush ends with an empty stored block: 00 00 ff ff.
            #expect(output.bytes.suffix(4) == [0x00, 0x00, 0xff, 0xff])
            segments.append(output.bytes)
        }
        var trailer = ByteBuffer()
        try deflater.compress(ByteBuffer(), into: &trailer, flush: .finish)
        segments.append(trailer.bytes)

        let result = try PythonZlib.decompressSegments(segments, coding: coding)
        #expect(result.pieces.count == chunks.count + 1)
        for (index, chunk) in chunks.enumerated() where index < result.pieces.count {
            #expect(result.pieces[index] == chunk, "segment \(index) must yield exactly chunk \(index)")
        }
        #expect(result.pieces.last == [])
        #expect(result.eof)
    }

    @Test("a repeated sync flush with no new input is harmless")
    func repeatedSyncFlushIsHarmless() throws {
        let deflater = try Deflater(coding: .gzip)
        var output = ByteBuffer()
        try deflater.compress(ByteBuffer(string: "PENDING"), into: &output, flush: .sync)
        let afterFirst = output.readableBytes
        // zlib answers Z_BUF_ERROR here ("no progress possible"); that must not surface as an error.
        try deflater.compress(ByteBuffer(), into: &output, flush: .sync)
        try deflater.compress(ByteBuffer(), into: &output, flush: .none)
        #expect(output.readableBytes == afterFirst)
        try deflater.compress(ByteBuffer(), into: &output, flush: .finish)
        #expect(try PythonZlib.decompress(output.bytes, coding: .gzip) == Array("PENDING".utf8))
    }

    @Test("compressing after finish throws; reset makes the deflater reusable")
    func finishThenReset() throws {
        let input = TestData.text(count: 20_000)
        let deflater = try Deflater(coding: .deflate, level: 6)
        let first = try deflater.compressAll(ByteBuffer(bytes: input))
        #expect(throws: CompressionError.self) {
            var output = ByteBuffer()
            try deflater.compress(ByteBuffer(string: "x"), into: &output, flush: .none)
        }
        do {
            var output = ByteBuffer()
            try deflater.compress(ByteBuffer(string: "x"), into: &output, flush: .none)
            Issue.record("expected streamFinished")
        } catch {
            #expect(error.code == .streamFinished)
        }
        try deflater.reset()
        #expect(!deflater.isFinished)
        #expect(deflater.totalBytesIn == 0)
        let second = try deflater.compressAll(ByteBuffer(bytes: input))
        #expect(second.bytes == first.bytes, "a reset deflater must behave like a new one")
        #expect(try PythonZlib.decompress(second.bytes, coding: .deflate) == input)
    }

    @Test("output goes into the caller's spare capacity without reallocating")
    func reusesOutputCapacity() throws {
        let input = ByteBuffer(bytes: TestData.text(count: 16 * 1024))
        let deflater = try Deflater(coding: .gzip)
        var output = ByteBuffer()
        output.reserveCapacity(128 * 1024)
        let storage = output.withUnsafeMutableWritableBytes { UnsafeRawPointer($0.baseAddress) }
        let capacity = output.capacity
        for _ in 0..<3 {
            output.clear()
            try deflater.compress(input, into: &output, flush: .finish)
            #expect(output.capacity == capacity)
            #expect(output.withUnsafeReadableBytes { $0.baseAddress } == storage)
            try deflater.reset()
        }
    }

    @Test("appends after existing output without disturbing it")
    func appendsToExistingOutput() throws {
        let deflater = try Deflater(coding: .gzip)
        var output = ByteBuffer(string: "prefix")
        try deflater.compress(ByteBuffer(string: "hello"), into: &output, flush: .finish)
        #expect(output.readString(length: 6) == "prefix")
        #expect(try PythonZlib.decompress(output.bytes, coding: .gzip) == Array("hello".utf8))
    }

    @Test(
        "levels 0, 1 and 9 all decode; level 0 stores and level 9 is not larger than level 1",
        arguments: ContentCodingForTests.allCases)
    func levels(coding: ContentCodingForTests) throws {
        let input = TestData.text(count: 100_000)
        let stored = try compressOneShot(input, coding: coding, level: 0)
        let fast = try compressOneShot(input, coding: coding, level: 1)
        let best = try compressOneShot(input, coding: coding, level: 9)
        #expect(stored.count > input.count)
        #expect(best.count <= fast.count && fast.count < input.count / 3)
        for compressed in [stored, fast, best] {
            #expect(try PythonZlib.decompress(compressed, coding: coding) == input)
        }
    }

    @Test("wire format: gzip magic for gzip, a zlib header for deflate")
    func wireFormat() throws {
        let gzip = try compressOneShot([1, 2, 3], coding: .gzip)
        #expect(Array(gzip.prefix(3)) == [0x1f, 0x8b, 0x08])
        let zlib = try compressOneShot([1, 2, 3], coding: .deflate)
        // CMF 0x78 = deflate with a 32 KiB window; (CMF * 256 + FLG) is a multiple of 31.
        #expect(zlib.first == 0x78)
        #expect((Int(zlib[0]) * 256 + Int(zlib[1])) % 31 == 0)
    }

    @Test("an invalid level is a typed error", arguments: [-1, 10])
    func invalidLevel(level: Int) {
        do {
            _ = try Deflater(coding: .gzip, level: level)
            Issue.record("level \(level) must be rejected")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }
}
