import NIOCore
import NIOHTTP1

/// An HTTP/1.1 request decoder (RFC 9112) producing NIOHTTP1's `HTTPServerRequestPart`s, a drop-in
/// for `ByteToMessageHandler(HTTPRequestDecoder())`.
///
/// Why not NIO's decoder: llhttp has a fixed method table and refuses Exchange's `RPC_IN_DATA` /
/// `RPC_OUT_DATA` (Outlook Anywhere). This decoder takes any token as the method and passes every
/// request-target form through as the uri.
///
/// What it accepts, deliberately strictly (an ambiguity here is a request-smuggling hole in a proxy):
/// - lines end in CRLF only: a bare LF or a bare CR is an error; empty lines before a request line
///   are skipped (RFC 9112 2.2);
/// - `method SP target SP HTTP/1.1` (or 1.0) with single spaces; any other `HTTP/x.y` is
///   `unsupportedVersion` (505), other shapes are 400;
/// - field names are tokens with the colon right after them; values lose surrounding whitespace and
///   may not hold control characters other than HTAB; obs-fold is refused; names keep case and order;
/// - body framing (RFC 9112 6): `Transfer-Encoding` must be exactly `chunked` (one coding, HTTP/1.1,
///   no `Content-Length` beside it: `gzip, chunked` is legal HTTP but refused here as the safer choice);
///   `Content-Length` must be digits, repeats identical; neither means no body.
///
/// Bodies are emitted as slices of the received buffers (zero copy) as soon as they arrive, so a
/// 1 GB `Content-Length` streams through. Chunk extensions are read and ignored; trailers end up in
/// `.end(trailers)`, minus the fields that must not be trailers (`Content-Length`, `Transfer-Encoding`,
/// `Host`), which are dropped.
/// At EOF a partial head or body is an error, never a short request passed on as complete.
/// `Connection: upgrade` gets no special treatment: bytes after a request are the next request.
public struct HTTP1RequestDecoder: ByteToMessageDecoder {
    public typealias InboundOut = HTTPServerRequestPart

    /// Where the decoder is within the current request.
    enum State {
        case head
        case fixedBody(remaining: UInt64)
        case chunkSizeLine
        case chunkData(remaining: UInt64)
        case chunkDataEnd
        case trailers
    }

    /// How a request's body is delimited.
    enum Framing: Equatable {
        case none
        case length(UInt64)
        case chunked
    }

    let limits: Limits
    var state = State.head
    /// Progress through an incomplete head or trailer section, so a slow client's bytes are not
    /// rescanned from the start on every read: the offset (from the reader index) of the first line
    /// not yet seen complete, and how many complete non-empty lines come before it.
    var sectionScan = SectionScan()

    /// Creates a decoder waiting for the first request head.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .head:
            guard let (head, framing) = try takeHead(&buffer) else { return .needMoreData }
            context.fireChannelRead(Self.wrapInboundOut(.head(head)))
            switch framing {
            case .none:
                context.fireChannelRead(Self.wrapInboundOut(.end(nil)))
            case .length(let length):
                state = .fixedBody(remaining: length)
            case .chunked:
                state = .chunkSizeLine
            }
            return .continue

        case .fixedBody(let remaining):
            guard let slice = Self.takeBodySlice(&buffer, remaining: remaining) else { return .needMoreData }
            context.fireChannelRead(Self.wrapInboundOut(.body(slice)))
            let left = remaining - UInt64(slice.readableBytes)
            if left == 0 {
                state = .head
                context.fireChannelRead(Self.wrapInboundOut(.end(nil)))
            } else {
                state = .fixedBody(remaining: left)
            }
            return .continue

        case .chunkSizeLine:
            guard let size = try takeChunkSizeLine(&buffer) else { return .needMoreData }
            state = size == 0 ? .trailers : .chunkData(remaining: size)
            return .continue

        case .chunkData(let remaining):
            guard let slice = Self.takeBodySlice(&buffer, remaining: remaining) else { return .needMoreData }
            context.fireChannelRead(Self.wrapInboundOut(.body(slice)))
            let left = remaining - UInt64(slice.readableBytes)
            state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
            return .continue

        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else {
                if let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), first != HTTP1Bytes.cr {
                    throw Self.missingChunkTerminator()
                }
                return .needMoreData
            }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw Self.missingChunkTerminator() }
            state = .chunkSizeLine
            return .continue

        case .trailers:
            guard case .complete(let trailers) = try takeTrailers(&buffer) else { return .needMoreData }
            state = .head
            context.fireChannelRead(Self.wrapInboundOut(.end(trailers)))
            return .continue
        }
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        // Nothing more will come: whatever is incomplete stays incomplete.
        switch state {
        case .head:
            if buffer.readableBytes == 0 { return .needMoreData }
            throw HTTP1DecoderError(
                .truncatedHead,
                "the connection ended inside a request head "
                    + "(\(buffer.readableBytes) bytes without the blank line that ends it)")
        case .fixedBody(let remaining):
            throw HTTP1DecoderError(.truncatedBody, "the connection ended \(remaining) bytes short of the Content-Length")
        case .chunkSizeLine, .chunkData, .chunkDataEnd, .trailers:
            throw HTTP1DecoderError(.truncatedBody, "the connection ended inside a chunked body")
        }
    }

    /// The next piece of a body of `remaining` bytes: a slice sharing the received buffer's storage.
    @inline(__always)
    static func takeBodySlice(_ buffer: inout ByteBuffer, remaining: UInt64) -> ByteBuffer? {
        let available = buffer.readableBytes
        guard available > 0 else { return nil }
        let count = remaining < UInt64(available) ? Int(remaining) : available
        return buffer.readSlice(length: count)
    }

    static func missingChunkTerminator() -> HTTP1DecoderError {
        HTTP1DecoderError(.missingChunkTerminator, "a chunk's data is not followed by CRLF (its chunk size is wrong)")
    }
}
