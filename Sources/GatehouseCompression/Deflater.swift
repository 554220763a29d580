import CZlib
import NIOCore

/// A streaming gzip or zlib ("deflate") compressor that reads `ByteBuffer`s and appends into a
/// caller-supplied `ByteBuffer`.
///
/// Owns one zlib `z_stream`. The stream lives in its own heap allocation because zlib keeps a
/// back-pointer to it (`state->strm`) and checks it on every call: a Swift struct stored property
/// could move, a pointer allocated here never does.
///
/// Not thread-safe and not `Sendable`: one instance belongs to one response on one event loop.
/// After `.finish`, `reset()` makes it ready for the next response without reallocating zlib's
/// ~256 KiB of state (window 64 KiB + hash tables 128 KiB + pending buffer 64 KiB at memLevel 8).
public final class Deflater {
    /// How much output to force out after consuming the input of one `compress` call.
    public enum Flush: Sendable, Hashable {
        /// Let zlib buffer output for the best ratio (`Z_NO_FLUSH`).
        case none
        /// Emit everything so far, byte aligned, so a client's decompressor can produce all input
        /// given so far (`Z_SYNC_FLUSH`). Costs ~5 bytes and some ratio; use once per backend
        /// chunk on streaming routes so long-poll data is not held back.
        case sync
        /// End the stream: emit everything plus the trailer (`Z_FINISH`).
        case finish

        var zlibValue: Int32 {
            switch self {
            case .none: Z_NO_FLUSH
            case .sync: Z_SYNC_FLUSH
            case .finish: Z_FINISH
            }
        }
    }

    /// The coding this deflater produces.
    public let coding: ContentCoding
    /// The compression level, 0 (store) ... 9 (best).
    public let level: Int

    /// The one z_stream; allocated in `init`, freed in `deinit`, never moved.
    private let stream: UnsafeMutablePointer<z_stream>
    private var finished = false

    /// Upper bound on output space reserved up front per `compress` call; beyond this the output
    /// buffer grows only if zlib actually fills it, so a large input chunk of very compressible
    /// data does not reserve its full uncompressed size.
    private static let maximumInitialReservation = 64 * 1024

    /// Creates a compressor.
    ///
    /// - Parameters:
    ///   - coding: `.gzip` (windowBits 31) or `.deflate` (zlib wrapper, windowBits 15).
    ///   - level: 0...9; 6 is zlib's default balance of speed and ratio.
    /// - Throws: `CompressionError` with `.invalidArgument` for a bad level, `.outOfMemory` or
    ///   `.incompatibleLibrary` if zlib cannot initialise.
    public init(coding: ContentCoding, level: Int = 6) throws(CompressionError) {
        guard (0...9).contains(level) else {
            throw CompressionError(.invalidArgument, detail: "compression level \(level) is not in 0...9")
        }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        // Zeroed zalloc/zfree/opaque (Z_NULL) select zlib's default malloc/free.
        stream.initialize(to: z_stream())
        let rc = ZlibReturnCode(
            CZlib_deflateInit2(
                stream, Int32(level), Z_DEFLATED, coding.zlibWindowBits, 8, Z_DEFAULT_STRATEGY))
        guard rc == .ok else {
            // deflateInit2 failed, so there is no zlib state to end; only our allocation to free.
            let error = rc.error(operation: "deflateInit2", message: stream.pointee.msg)
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw error
        }
        self.stream = stream
        self.coding = coding
        self.level = level
    }

    deinit {
        // deflateEnd frees zlib's internal state; it returns Z_DATA_ERROR when the stream was not
        // finished, which only reports that pending output was discarded: nothing to handle.
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Whether `.finish` has completed; further input needs `reset()` first.
    public var isFinished: Bool { finished }

    /// Uncompressed bytes consumed since creation or the last `reset()`.
    public var totalBytesIn: Int { Int(stream.pointee.total_in) }

    /// Compressed bytes produced since creation or the last `reset()`.
    public var totalBytesOut: Int { Int(stream.pointee.total_out) }

    /// Compresses all readable bytes of `input` and appends the output produced to `output`.
    ///
    /// All of `input` is always consumed (its reader index is not moved: it is passed by value).
    /// With `.none` the call may append nothing; with `.sync` everything given so far can be
    /// decompressed from the output; with `.finish` the stream is complete and `isFinished` is true.
    /// `output`'s spare capacity is used first, so a caller that `clear()`s and reuses one buffer
    /// does not allocate per call.
    ///
    /// - Throws: `CompressionError(.streamFinished)` after `.finish` without `reset()`.
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer, flush: Flush) throws(CompressionError) {
        guard !finished else {
            throw CompressionError(.streamFinished, detail: "compress called after finish; call reset() first")
        }
        if input.readableBytes == 0 && flush == .none {
            return  // Nothing to consume and nothing asked for; zlib would report Z_BUF_ERROR.
        }
        let result = input.withUnsafeReadableBytes { inputBytes in
            // zlib declares next_in non-const (z_const is empty in this build) but never writes
            // through it. The pointer is valid only inside this closure, so it is cleared before
            // returning: the z_stream must never hold a pointer into a ByteBuffer we no longer borrow.
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: inputBytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
            // ByteBuffer indices are UInt32, so readableBytes always fits avail_in.
            stream.pointee.avail_in = uInt(inputBytes.count)
            defer {
                stream.pointee.next_in = nil
                stream.pointee.avail_in = 0
            }
            return drive(flush: flush, into: &output)
        }
        if case .failure(let error) = result { throw error }
    }

    /// Convenience for tests and tools: compresses `bytes` with `.finish` into a new buffer.
    public func compressAll(_ bytes: ByteBuffer) throws(CompressionError) -> ByteBuffer {
        var output = ByteBuffer()
        try compress(bytes, into: &output, flush: .finish)
        return output
    }

    /// Makes the deflater ready for a new stream with the same coding and level, keeping zlib's
    /// allocations. Valid in any state, including mid-stream (pending output is discarded).
    public func reset() throws(CompressionError) {
        let rc = ZlibReturnCode(deflateReset(stream))
        // deflateReset only fails (Z_STREAM_ERROR) if the stream state is inconsistent.
        guard rc == .ok else { throw rc.error(operation: "deflateReset", message: stream.pointee.msg) }
        finished = false
    }

    /// Calls `deflate` until the input is consumed and the requested flush is complete.
    /// Runs with `next_in`/`avail_in` set by the caller.
    private func drive(flush: Flush, into output: inout ByteBuffer) -> Result<Void, CompressionError> {
        let zflush = flush.zlibValue
        // deflateBound covers a whole stream; for a chunk in the middle of one it is a good first
        // guess (input size + ~0.1% + a few bytes) that avoids growing the buffer mid-call.
        let bound = Int(deflateBound(stream, uLong(stream.pointee.avail_in)))
        var reservation = min(max(bound, 64), Self.maximumInitialReservation)
        while true {
            var rc = ZlibReturnCode.ok
            var outputSpaceLeft = 0
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: reservation) { outputBytes in
                let space = min(outputBytes.count, Int(UInt32.max))
                // next_out points into output's storage only for this closure; cleared below.
                stream.pointee.next_out = outputBytes.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(space)
                rc = ZlibReturnCode(deflate(stream, zflush))
                outputSpaceLeft = Int(stream.pointee.avail_out)
                stream.pointee.next_out = nil
                stream.pointee.avail_out = 0
                return space - outputSpaceLeft
            }
            switch rc {
            case .streamEnd:
                // Only Z_FINISH ends the stream; everything, including the trailer, is out.
                finished = true
                return .success(())
            case .ok, .bufferError:
                // Z_BUF_ERROR: no progress possible, e.g. a second sync flush with no new input.
                // Not fatal (zlib's documentation says so); the stream is unchanged.
                if outputSpaceLeft > 0 && flush != .finish {
                    // deflate stops early only when it has consumed all input and completed the
                    // flush; a full output buffer means there may be more to come.
                    return .success(())
                }
                if rc == .bufferError && outputSpaceLeft > 0 {
                    // Z_FINISH with room left but no progress cannot happen on a healthy stream.
                    return .failure(rc.error(operation: "deflate", message: stream.pointee.msg))
                }
                // Output filled up: give zlib more room, growing the request so large outputs
                // take few rounds.
                reservation = min(reservation * 2, 1 << 20)
            case .needDictionary, .errno, .streamError, .dataError, .memoryError, .versionError, .unknown:
                return .failure(rc.error(operation: "deflate", message: stream.pointee.msg))
            }
        }
    }
}
