import NIOCore
import NIOHTTP1

/// Progress of a deterministic-bytes response.
struct ByteStreamState {
    /// Bytes still to send.
    var remaining: UInt64
    /// Position of the next byte in the stream (byte i is `i % 251`).
    var offset: UInt64
    /// Guards against re-entering the pump from a writability event raised by its own flush.
    var pumping = false
}

/// The deterministic byte pattern: byte i of any streamed body is `UInt8(i % 251)`, so a client
/// can compute the expected SHA-256 of N bytes without a reference file.
public enum SimPattern {
    /// 251 is prime, so the pattern never lines up with power-of-two buffer sizes.
    public static let period = 251
    /// Bytes per write: a multiple of the period close to 64 KiB.
    static let chunkSize = period * 256
    /// One chunk plus one period, so a chunk starting at any phase is a zero-copy slice.
    static let buffer: ByteBuffer = {
        var buffer = ByteBufferAllocator().buffer(capacity: chunkSize + period)
        for index in 0..<(chunkSize + period) { buffer.writeInteger(UInt8(index % period)) }
        return buffer
    }()

    /// Bytes `offset ..< offset + length` of the pattern; `length` must not exceed `chunkSize`.
    static func slice(offset: UInt64, length: Int) -> ByteBuffer {
        buffer.getSlice(at: Int(offset % UInt64(period)), length: length)!
    }

    /// The first `count` bytes of the pattern as an array (for tests and small bodies).
    public static func bytes(count: Int) -> [UInt8] {
        (0..<count).map { UInt8($0 % period) }
    }
}

extension SimConnectionHandler {
    /// Starts a Content-Length response of `bytes` pattern bytes, written as the channel allows.
    func startStream(bytes: UInt64, contentType: String, headers: [(String, String)], context: ChannelHandlerContext) {
        guard let request = current else { return }
        let head = responseHead(status: .ok, headers: [("Content-Type", contentType)] + headers, contentLength: bytes)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.isHead || bytes == 0 {
            finishResponse(context: context)
            return
        }
        context.flush()
        stream = ByteStreamState(remaining: bytes, offset: 0)
        pump(context: context)
    }

    /// Writes chunks while the channel is writable; resumes from `channelWritabilityChanged`.
    /// Never holds more than about one chunk beyond the channel's high-water mark.
    func pump(context: ChannelHandlerContext) {
        guard let current = stream, !current.pumping else { return }
        stream!.pumping = true
        while let progress = stream, progress.remaining > 0, context.channel.isWritable {
            let length = Int(min(progress.remaining, UInt64(SimPattern.chunkSize)))
            stream!.remaining -= UInt64(length)
            stream!.offset += UInt64(length)
            context.writeAndFlush(
                wrapOutboundOut(.body(.byteBuffer(SimPattern.slice(offset: progress.offset, length: length)))),
                promise: nil)
        }
        // The connection may have closed during a flush, which drops the stream.
        guard stream != nil else { return }
        stream!.pumping = false
        if stream!.remaining == 0 { finishResponse(context: context) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if stream != nil, context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }
}
