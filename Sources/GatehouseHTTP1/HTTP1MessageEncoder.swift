import NIOCore
import NIOHTTP1

/// The HTTP/1.x encoders of Gatehouse's two sides: `HTTP1ResponseEncoder` (client connections) and
/// `HTTP1RequestEncoder` (backend connections). They write the same bytes as NIO's
/// `HTTPResponseEncoder` and `HTTPRequestEncoder` configured with `automaticallySetFramingHeaders =
/// false` (Gatehouse frames every message itself: `RequestFraming`, `HTTP1ServerAdapter.frame`),
/// which `HTTP1MessageEncoderTests` checks message by message, but a head's size is counted first
/// and the head is then one allocation filled by byte copies: NIO's write every name, ": ", value
/// and CRLF through its own bounds-, capacity- and exclusivity-checked `ByteBuffer` call, growing
/// the buffer as it goes.
///
/// Framing, as NIO's without automatic headers: an HTTP/1.1 message whose first Transfer-Encoding
/// field is exactly `chunked` has its body parts framed as chunks and its end written as the last
/// chunk (with trailers, if any); any other message's body parts pass through as they are.
enum HTTP1HeadWriter {
    /// A buffer holding `startLine` (without its CRLF), CRLF, each field as `name: value` CRLF, and
    /// the blank line that ends the head.
    static func head(_ startLine: StartLine, headers: HTTPHeaders, allocator: ByteBufferAllocator) -> ByteBuffer {
        var size = startLine.byteCount + 4
        for (name, value) in headers { size += name.utf8.count + value.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            precondition(raw.count >= size)
            var cursor = Cursor(base: raw.baseAddress!)
            startLine.write(to: &cursor)
            cursor.crlf()
            for (name, value) in headers {
                cursor.copy(name)
                cursor.byte(0x3A)
                cursor.byte(0x20)
                cursor.copy(value)
                cursor.crlf()
            }
            cursor.crlf()
            // The count above and the writes here must agree: the cursor does not check bounds.
            precondition(cursor.offset == size, "HTTP/1.1 head: \(cursor.offset) bytes written, \(size) counted")
            return cursor.offset
        }
        return buffer
    }

    /// The last chunk with `trailers`: "0" CRLF, the fields, and the blank line.
    static func lastChunk(trailers: HTTPHeaders, allocator: ByteBufferAllocator) -> ByteBuffer {
        head(.lastChunk, headers: trailers, allocator: allocator)
    }

    /// A chunk's size line ("1a3f" CRLF) followed by the CRLF that ends the chunk's data; the caller
    /// writes the size line, the data, then the CRLF (a slice of the same buffer).
    static func chunkFraming(size: Int, allocator: ByteBufferAllocator) -> (sizeLine: ByteBuffer, end: ByteBuffer) {
        var digits = 1
        while size >> (4 * digits) != 0 { digits += 1 }
        var buffer = allocator.buffer(capacity: digits + 4)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 4) { raw in
            var cursor = Cursor(base: raw.baseAddress!)
            for index in stride(from: digits - 1, through: 0, by: -1) {
                let nibble = UInt8((size >> (4 * index)) & 0xF)
                cursor.byte(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
            }
            cursor.crlf()
            cursor.crlf()
            return cursor.offset
        }
        let end = buffer.getSlice(at: digits + 2, length: 2)!
        buffer.moveWriterIndex(to: digits + 2)
        return (buffer, end)
    }

    /// The first line of a head.
    enum StartLine {
        case request(HTTPRequestHead)
        case response(HTTPResponseHead)
        case lastChunk

        var byteCount: Int {
            switch self {
            case .request(let head):
                return head.method.rawValue.utf8.count + 1 + head.uri.utf8.count + 1 + HTTP1HeadWriter.versionLength(head.version)
            case .response(let head):
                return HTTP1HeadWriter.versionLength(head.version) + 1 + HTTP1HeadWriter.decimalLength(head.status.code) + 1
                    + head.status.reasonPhrase.utf8.count
            case .lastChunk:
                return 1
            }
        }

        func write(to cursor: inout Cursor) {
            switch self {
            case .request(let head):
                cursor.copy(head.method.rawValue)
                cursor.byte(0x20)
                cursor.copy(head.uri)
                cursor.byte(0x20)
                cursor.version(head.version)
            case .response(let head):
                cursor.version(head.version)
                cursor.byte(0x20)
                cursor.decimal(head.status.code)
                cursor.byte(0x20)
                cursor.copy(head.status.reasonPhrase)
            case .lastChunk:
                cursor.byte(0x30)
            }
        }
    }

    static func versionLength(_ version: HTTPVersion) -> Int {
        5 + decimalLength(UInt(version.major)) + 1 + decimalLength(UInt(version.minor))
    }

    static func decimalLength(_ value: UInt) -> Int {
        var digits = 1
        var rest = value / 10
        while rest != 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// A write position in a buffer sized beforehand (every write below stays within that size).
    struct Cursor {
        let base: UnsafeMutableRawPointer
        var offset = 0

        init(base: UnsafeMutableRawPointer) { self.base = base }

        @inline(__always)
        mutating func byte(_ value: UInt8) {
            base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }

        @inline(__always)
        mutating func crlf() {
            byte(0x0D)
            byte(0x0A)
        }

        @inline(__always)
        mutating func copy(_ text: String) {
            let copied = text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
                if let start = bytes.baseAddress { (base + offset).copyMemory(from: start, byteCount: bytes.count) }
                offset += bytes.count
                return true
            }
            if copied == nil {
                for unit in text.utf8 { byte(unit) }
            }
        }

        mutating func decimal(_ value: UInt) {
            let digits = HTTP1HeadWriter.decimalLength(value)
            var rest = value
            for index in stride(from: digits - 1, through: 0, by: -1) {
                base.storeBytes(of: UInt8(0x30 + rest % 10), toByteOffset: offset + index, as: UInt8.self)
                rest /= 10
            }
            offset += digits
        }

        mutating func version(_ version: HTTPVersion) {
            for unit in "HTTP/".utf8 { byte(unit) }
            decimal(UInt(version.major))
            byte(0x2E)
            decimal(UInt(version.minor))
        }
    }
}

/// One message after another, its body and end framed as its head said (both encoders).
struct HTTP1BodyFraming {
    private(set) var isChunked = false
    /// The end of a chunked body without trailers; shared, so a chunked response's end allocates nothing.
    private static let lastChunk = ByteBuffer(staticString: "0\r\n\r\n")

    /// Writes `part`; `line` gives a head's first line.
    @inline(__always)
    mutating func write<Head>(
        _ part: HTTPPart<Head, IOData>, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?,
        line: (Head) -> (HTTP1HeadWriter.StartLine, HTTPVersion, HTTPHeaders)
    ) {
        switch part {
        case .head(let head):
            let (startLine, version, headers) = line(head)
            begin(version: version, headers: headers)
            let bytes = HTTP1HeadWriter.head(startLine, headers: headers, allocator: context.channel.allocator)
            context.write(NIOAny(IOData.byteBuffer(bytes)), promise: promise)
        case .body(let body):
            writeBody(body, context: context, promise: promise)
        case .end(let trailers):
            writeEnd(trailers: trailers, context: context, promise: promise)
        }
    }

    /// Reads the framing from a head about to be written.
    private mutating func begin(version: HTTPVersion, headers: HTTPHeaders) {
        isChunked = version.major == 1 && version.minor >= 1 && headers.first(name: "transfer-encoding") == "chunked"
    }

    /// Writes a body part: as it is, or as one chunk (size line, data, CRLF; an empty part is
    /// written unframed, so that it neither ends the body nor completes its promise out of order).
    private func writeBody(_ part: IOData, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let size = part.readableBytes
        guard isChunked, size > 0 else {
            context.write(NIOAny(part), promise: promise)
            return
        }
        let (sizeLine, end) = HTTP1HeadWriter.chunkFraming(size: size, allocator: context.channel.allocator)
        context.write(NIOAny(IOData.byteBuffer(sizeLine)), promise: nil)
        context.write(NIOAny(part), promise: nil)
        // Writes complete in order, and a failed write fails every later one on the channel: the
        // last write's promise stands for all three.
        context.write(NIOAny(IOData.byteBuffer(end)), promise: promise)
    }

    /// Writes the end of the message: the last chunk (and trailers) when chunked; otherwise nothing,
    /// or an empty write carrying `promise` so that it completes after the body's writes.
    private mutating func writeEnd(trailers: HTTPHeaders?, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        defer { isChunked = false }
        if isChunked {
            let allocator = context.channel.allocator
            let buffer: ByteBuffer
            if let trailers {
                buffer = HTTP1HeadWriter.lastChunk(trailers: trailers, allocator: allocator)
            } else {
                buffer = Self.lastChunk
            }
            context.write(NIOAny(IOData.byteBuffer(buffer)), promise: promise)
        } else if let promise {
            context.write(NIOAny(IOData.byteBuffer(ByteBuffer())), promise: promise)
        }
    }
}

/// Serialises `HTTPServerResponsePart`s onto a client connection (see `HTTP1HeadWriter`).
public final class HTTP1ResponseEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = IOData

    private var framing = HTTP1BodyFraming()

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        framing.write(Self.unwrapOutboundIn(data), context: context, promise: promise) { (.response($0), $0.version, $0.headers) }
    }
}

/// Serialises `HTTPClientRequestPart`s onto a backend connection (see `HTTP1HeadWriter`).
public final class HTTP1RequestEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = HTTPClientRequestPart
    public typealias OutboundOut = IOData

    private var framing = HTTP1BodyFraming()

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        framing.write(Self.unwrapOutboundIn(data), context: context, promise: promise) { (.request($0), $0.version, $0.headers) }
    }
}
