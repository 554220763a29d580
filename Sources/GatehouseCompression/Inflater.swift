import CZlib
import NIOCore

/// A streaming gzip or zlib ("deflate") decompressor with a limit on total output, for tests,
/// verification and anywhere a compressed body from outside must be read.
///
/// Owns one zlib `z_stream` in its own heap allocation (zlib keeps a back-pointer to it, so it
/// must never move). Not thread-safe and not `Sendable`.
public final class Inflater {
    /// The coding this inflater expects.
    public let coding: ContentCoding
    /// The most decompressed bytes this inflater will produce before throwing
    /// `.outputLimitExceeded` (a defence against decompression bombs).
    public let maximumOutputSize: Int

    /// The one z_stream; allocated in `init`, freed in `deinit`, never moved.
    private let stream: UnsafeMutablePointer<z_stream>
    private var finished = false
    private var produced = 0

    /// Creates a decompressor.
    ///
    /// - Parameters:
    ///   - coding: `.gzip` (windowBits 31) or `.deflate` (zlib wrapper, windowBits 15).
    ///   - maximumOutputSize: the total decompressed size allowed; must not be negative.
    public init(coding: ContentCoding, maximumOutputSize: Int) throws(CompressionError) {
        guard maximumOutputSize >= 0 else {
            throw CompressionError(.invalidArgument, detail: "maximumOutputSize \(maximumOutputSize) is negative")
        }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        // Zeroed next_in/avail_in tell inflateInit2 there is no input yet; zeroed zalloc/zfree
        // select zlib's default allocator.
        stream.initialize(to: z_stream())
        let rc = ZlibReturnCode(CZlib_inflateInit2(stream, coding.zlibWindowBits))
        guard rc == .ok else {
            // inflateInit2 failed: no zlib state exists, only our allocation to free.
            let error = rc.error(operation: "inflateInit2", message: stream.pointee.msg)
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw error
        }
        self.stream = stream
        self.coding = coding
        self.maximumOutputSize = maximumOutputSize
    }

    deinit {
        // inflateEnd only fails for an inconsistent stream; nothing useful to do about it here.
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Whether the end of the compressed stream (including its checksum trailer) has been seen.
    public var isFinished: Bool { finished }

    /// Decompressed bytes produced since creation or the last `reset()`.
    public var totalBytesOut: Int { produced }

    /// Decompresses the readable bytes of `input` and appends the result to `output`.
    ///
    /// Consumes input up to the end of the compressed stream; bytes after it are ignored.
    ///
    /// - Returns: the number of input bytes consumed (all of them unless the stream ended).
    /// - Throws: `.corruptData` for invalid input, `.outputLimitExceeded` when the total output
    ///   would exceed `maximumOutputSize` (output up to the limit has then been appended),
    ///   `.streamFinished` when called after the end of the stream.
    @discardableResult
    public func decompress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) -> Int {
        guard !finished else {
            throw CompressionError(.streamFinished, detail: "decompress called after the end of the stream")
        }
        let result = input.withUnsafeReadableBytes { inputBytes -> Result<Int, CompressionError> in
            // zlib never writes through next_in. The pointer is valid only inside this closure, so
            // it is cleared before returning.
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: inputBytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(inputBytes.count)
            defer {
                stream.pointee.next_in = nil
                stream.pointee.avail_in = 0
            }
            return drive(into: &output).map { inputBytes.count - Int(stream.pointee.avail_in) }
        }
        return try result.get()
    }

    /// Ends the stream: throws `.corruptData` if the compressed input stopped before its end
    /// (a truncated body), otherwise does nothing.
    public func finish() throws(CompressionError) {
        guard finished else {
            throw CompressionError(.corruptData, detail: "inflate: input ended before the end of the stream")
        }
    }

    /// Makes the inflater ready for a new stream, keeping zlib's allocations.
    public func reset() throws(CompressionError) {
        let rc = ZlibReturnCode(inflateReset(stream))
        guard rc == .ok else { throw rc.error(operation: "inflateReset", message: stream.pointee.msg) }
        finished = false
        produced = 0
    }

    /// Calls `inflate` until the input is consumed, the stream ends, or the limit is hit.
    private func drive(into output: inout ByteBuffer) -> Result<Void, CompressionError> {
        var reservation = min(max(Int(stream.pointee.avail_in) * 4, 4096), 256 * 1024)
        while true {
            let allowed = maximumOutputSize - produced
            // Offer one byte beyond the limit: if zlib writes it, the stream is over the limit.
            let offer = min(reservation, allowed + 1)
            var rc = ZlibReturnCode.ok
            var written = 0
            var spaceLeft = 0
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: offer) { outputBytes in
                let space = min(outputBytes.count, offer)
                // next_out is valid only inside this closure; cleared before returning.
                stream.pointee.next_out = outputBytes.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(space)
                rc = ZlibReturnCode(inflate(stream, Z_NO_FLUSH))
                spaceLeft = Int(stream.pointee.avail_out)
                stream.pointee.next_out = nil
                stream.pointee.avail_out = 0
                written = space - spaceLeft
                // Never commit the byte beyond the limit.
                return min(written, allowed)
            }
            if written > allowed {
                produced = maximumOutputSize
                return .failure(
                    CompressionError(
                        .outputLimitExceeded,
                        detail: "inflate: output exceeds the limit of \(maximumOutputSize) bytes"))
            }
            produced += written
            switch rc {
            case .streamEnd:
                finished = true
                return .success(())
            case .ok, .bufferError:
                // inflate returns with room left only when all input is consumed; Z_BUF_ERROR then
                // just means "needs more input", which the next call (or finish()) handles.
                if spaceLeft > 0 { return .success(()) }
                reservation = min(reservation * 2, 1 << 20)
            case .needDictionary, .dataError, .memoryError, .errno, .streamError, .versionError, .unknown:
                return .failure(rc.error(operation: "inflate", message: stream.pointee.msg))
            }
        }
    }
}
