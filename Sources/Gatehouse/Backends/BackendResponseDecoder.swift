import NIOCore
import NIOHTTP1

/// NIO's HTTP/1.1 response decoder with one rule added: a backend connection carries nothing
/// Gatehouse did not ask for. Bytes that arrive while no request uses the connection (it sits in
/// the pool, or pinned between requests), or that follow the end of a response in the same read,
/// would otherwise wait in the decoder and be read as the answer to the *next* request, possibly
/// another user's (response-queue poisoning). Such a connection is failed and closed instead.
///
/// A wrapper rather than a copy: NIO's decoder does all the parsing; this only looks at what it
/// leaves in the buffer and at whether a request is attached (`BackendConnection.delegate`).
final class BackendResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    /// Why the connection was given up.
    struct UnsolicitedBytes: Error, CustomStringConvertible {
        /// How many bytes were left over; nil when the parser took them in without keeping them.
        var count: Int?
        var description: String {
            guard let count else {
                return "bytes after the end of the response (the start of another one) that no request asked for"
            }
            return "\(count) bytes the backend sent without a request waiting for them"
        }
    }

    /// Header fields per head are capped by `BackendResponseRules.maxHeaderFields`.
    private let inner = HTTPResponseDecoder(
        leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward,
        limitConfiguration: BackendResponseRules.decoderLimits)
    /// Weak: the connection owns the channel whose pipeline owns this decoder.
    private weak var connection: BackendConnection?

    init(connection: BackendConnection) {
        self.connection = connection
    }

    private var isIdle: Bool { connection?.delegate == nil }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if isIdle && buffer.readableBytes > 0 { throw UnsolicitedBytes(count: buffer.readableBytes) }
        let state = try inner.decode(context: context, buffer: &buffer)
        if isIdle {
            // A response ended during this call (its request let go of the connection) and bytes
            // are left over: the start of a response nobody asked for.
            if buffer.readableBytes > 0 { throw UnsolicitedBytes(count: buffer.readableBytes) }
            // None are left, but the parser may have taken some in without keeping them: a status
            // line, or part of one, leaves it inside a new message with an empty buffer, and the
            // next request's response would be read as that message's rest. llhttp's end-of-input
            // check tells: between messages it succeeds and changes nothing (the parser stays
            // usable); inside one it fails. Only for a connection that stays open for reuse: one
            // that failed or is closing may stop inside a message (a refused head), where the check
            // would end that message instead. `buffer` is empty here, so nothing else is parsed.
            if let connection, !connection.isClosed {
                do {
                    _ = try inner.decodeLast(context: context, buffer: &buffer, seenEOF: true)
                } catch {
                    throw UnsolicitedBytes(count: nil)
                }
            }
        }
        return state
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try inner.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    /// A request head went out on this connection (`BackendConnection.write`): NIO's decoder keeps
    /// the heads in order to know which response has no body (the answer to HEAD). Told directly
    /// rather than as a `WriteObservingByteToMessageDecoder`, whose generic write path cost a
    /// run-time cast and type lookups per part.
    func requestHeadWritten(_ head: HTTPClientRequestPart) {
        inner.write(data: head)
    }

    func decoderAdded(context: ChannelHandlerContext) {
        inner.decoderAdded(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        inner.decoderRemoved(context: context)
    }
}
