import NIOCore
import NIOHTTP1

/// An HTTP/1.1 request parser producing NIOHTTP1's `HTTPServerRequestPart`s.
///
/// Why not NIOHTTP1's own decoder: it is built on llhttp, whose fixed method table rejects
/// Exchange's `RPC_IN_DATA` / `RPC_OUT_DATA` methods ("invalid method"). This parser accepts any
/// token as a method, keeps header names' case and order, streams bodies as they arrive
/// (Content-Length or chunked) and rejects ambiguous framing (both Content-Length and
/// Transfer-Encoding, conflicting lengths, obs-fold, bare CR/LF) with a `SimHTTPParseError`.
public struct SimRequestDecoder: ByteToMessageDecoder {
    public typealias InboundOut = HTTPServerRequestPart

    /// Where the parser is within the current request.
    enum State {
        case head
        case fixedBody(remaining: UInt64)
        case chunkSize
        case chunkData(remaining: UInt64)
        case chunkDataEnd
        case trailers
    }

    /// The largest request head accepted (Kerberos tickets make big headers: 64 KiB per line).
    public static let maxHeadBytes = 256 * 1024
    /// The largest single header line.
    public static let maxLineBytes = 64 * 1024

    private var state = State.head
    /// How far the current head has been scanned for its blank line, so a slow client's head is
    /// not rescanned from the start on every read.
    private var scannedHeadBytes = 0

    /// Creates a decoder waiting for the first request head.
    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .head:
            guard let head = try takeHead(&buffer) else { return .needMoreData }
            context.fireChannelRead(wrapInboundOut(.head(head.head)))
            switch head.framing {
            case .none:
                context.fireChannelRead(wrapInboundOut(.end(nil)))
            case .length(let length):
                state = .fixedBody(remaining: length)
            case .chunked:
                state = .chunkSize
            }
            return .continue

        case .fixedBody(let remaining):
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let count = Int(min(UInt64(buffer.readableBytes), remaining))
            let slice = buffer.readSlice(length: count)!
            context.fireChannelRead(wrapInboundOut(.body(slice)))
            if remaining == UInt64(count) {
                state = .head
                context.fireChannelRead(wrapInboundOut(.end(nil)))
            } else {
                state = .fixedBody(remaining: remaining - UInt64(count))
            }
            return .continue

        case .chunkSize:
            guard let line = try takeLine(&buffer, limit: 4096, what: "chunk size line") else { return .needMoreData }
            let size = try Self.parseChunkSize(line)
            state = size == 0 ? .trailers : .chunkData(remaining: size)
            return .continue

        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let count = Int(min(UInt64(buffer.readableBytes), remaining))
            let slice = buffer.readSlice(length: count)!
            context.fireChannelRead(wrapInboundOut(.body(slice)))
            state = remaining == UInt64(count) ? .chunkDataEnd : .chunkData(remaining: remaining - UInt64(count))
            return .continue

        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return .needMoreData }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw SimHTTPParseError("chunked body: a chunk's data is not followed by CRLF (chunk size does not match its data)")
            }
            state = .chunkSize
            return .continue

        case .trailers:
            // Trailer fields are read and dropped; the empty line ends the request.
            guard let line = try takeLine(&buffer, limit: Self.maxLineBytes, what: "trailer line") else { return .needMoreData }
            if line.isEmpty {
                state = .head
                context.fireChannelRead(wrapInboundOut(.end(nil)))
            }
            return .continue
        }
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A request cut short by EOF is simply dropped: the connection is going away.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// Reads one CRLF-terminated line (without the CRLF), or nil when it has not fully arrived.
    private func takeLine(_ buffer: inout ByteBuffer, limit: Int, what: String) throws -> [UInt8]? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: 0x0A) else {
            if view.count > limit { throw SimHTTPParseError("\(what) longer than \(limit) bytes") }
            return nil
        }
        let length = lf - view.startIndex
        guard length >= 1, view[lf - 1] == 0x0D else {
            throw SimHTTPParseError("\(what): bare LF without CR")
        }
        if length - 1 > limit { throw SimHTTPParseError("\(what) longer than \(limit) bytes") }
        let line = buffer.readBytes(length: length - 1)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// Parses a chunk-size line: hex digits, optionally followed by `;extensions`.
    static func parseChunkSize(_ line: [UInt8]) throws -> UInt64 {
        let digits = line.prefix { $0 != UInt8(ascii: ";") }
        let trimmed = digits.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
        guard !trimmed.isEmpty, trimmed.count <= 15 else {
            throw SimHTTPParseError("chunked body: invalid chunk size '\(String(decoding: line.prefix(40), as: UTF8.self))'")
        }
        var size: UInt64 = 0
        for byte in trimmed {
            guard let digit = hexValue(byte) else {
                throw SimHTTPParseError("chunked body: invalid chunk size '\(String(decoding: line.prefix(40), as: UTF8.self))'")
            }
            size = size << 4 | UInt64(digit)
        }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Takes a complete request head off `buffer`, or returns nil when its blank line has not arrived.
    private mutating func takeHead(_ buffer: inout ByteBuffer) throws -> ParsedHead? {
        // Robustness (RFC 9112 2.2): ignore empty lines before a request line.
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            scannedHeadBytes = 0
        }
        let end: Int? = buffer.withUnsafeReadableBytes { bytes in
            var index = max(0, scannedHeadBytes - 3)
            while index + 3 < bytes.count {
                if bytes[index] == 0x0D, bytes[index + 1] == 0x0A, bytes[index + 2] == 0x0D, bytes[index + 3] == 0x0A {
                    return index
                }
                index += 1
            }
            return nil
        }
        guard let end else {
            scannedHeadBytes = buffer.readableBytes
            if buffer.readableBytes > Self.maxHeadBytes {
                throw SimHTTPParseError("request head larger than \(Self.maxHeadBytes) bytes")
            }
            return nil
        }
        scannedHeadBytes = 0
        guard end <= Self.maxHeadBytes else {
            throw SimHTTPParseError("request head larger than \(Self.maxHeadBytes) bytes")
        }
        let bytes = buffer.readBytes(length: end)!
        buffer.moveReaderIndex(forwardBy: 4)
        return try Self.parseHead(bytes)
    }
}

/// A malformed request: the message says what is wrong and is sent back in the 400 response.
public struct SimHTTPParseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was wrong with the request.
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { "malformed HTTP request: \(message)" }
}
