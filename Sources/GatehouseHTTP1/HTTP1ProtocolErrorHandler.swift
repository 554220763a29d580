import NIOCore
import NIOHTTP1

/// Sits right after `ByteToMessageHandler(HTTP1RequestDecoder())` and turns its `HTTP1DecoderError`
/// into the matching `HTTPParserError`, the only error type NIO's `HTTPServerPipelineHandler` holds
/// back until the responses to earlier pipelined requests are complete (any other error overtakes
/// them). `onError` sees the detailed error first, for logs.
///
/// Errors that `ByteToMessageHandler` raises for data arriving after the decoder failed are dropped:
/// the failure has been reported once and the connection is already on its way to being closed.
public final class HTTP1DecoderErrorTranslator: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart

    private let onError: (@Sendable (HTTP1DecoderError) -> Void)?

    /// Creates a translator; `onError` is told of each decoder error before it is passed on.
    public init(onError: (@Sendable (HTTP1DecoderError) -> Void)? = nil) {
        self.onError = onError
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let decoderError = error as? HTTP1DecoderError {
            onError?(decoderError)
            context.fireErrorCaught(decoderError.parserError)
            return
        }
        if case .dataReceivedInErrorState(let original, _) = error as? ByteToMessageDecoderError,
            original is HTTP1DecoderError
        {
            return
        }
        context.fireErrorCaught(error)
    }
}

@available(*, unavailable)
extension HTTP1DecoderErrorTranslator: Sendable {}

/// Answers a request the decoder refused, in place of NIO's `HTTPServerProtocolErrorHandler`
/// (which knows only 400): `431 Request Header Fields Too Large` for a field line, head or field
/// count over the limit, `505 HTTP Version Not Supported` for HTTP/x.y other than 1.0/1.1, and
/// `400 Bad Request` otherwise; always with `Connection: close`, and only if no response is under
/// way (otherwise there is nothing valid left to say). The connection is closed once it is written.
///
/// It understands `HTTPParserError` (as passed on by `HTTP1DecoderErrorTranslator` and held back by
/// `HTTPServerPipelineHandler`) and `HTTP1DecoderError` (when used without those two). Other errors
/// pass through untouched; every error is passed on for whoever logs.
public final class HTTP1ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    /// Whether a response head has gone out without its end.
    private var responseUnderway = false

    /// Creates the handler.
    public init() {}

    /// The status answering `error`, or nil when it is not a request-parsing error.
    public static func status(for error: Error) -> HTTPResponseStatus? {
        if let decoderError = error as? HTTP1DecoderError { return decoderError.status }
        switch error as? HTTPParserError {
        case .none: return nil
        case .headerOverflow: return .requestHeaderFieldsTooLarge
        case .invalidVersion: return .httpVersionNotSupported
        case .some: return .badRequest
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let status = Self.status(for: error), !responseUnderway {
            Self.answer(status, context: context)
        }
        context.fireErrorCaught(error)
    }

    /// Writes the empty `status` response with `Connection: close` from `context` (whose outbound
    /// side takes `HTTPServerResponsePart`s) and closes the connection once it is written. Also
    /// used by Gatehouse's `HTTP1ServerAdapter`, which plays this handler's part on proxy
    /// connections (one handler fewer for every request part to pass).
    public static func answer(_ status: HTTPResponseStatus, context: ChannelHandlerContext) {
        let headers = HTTPHeaders([("Connection", "close"), ("Content-Length", "0")])
        let head = HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))
        context.write(NIOAny(head), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: written)
    }

    /// Runs for every response part. `self.unwrapOutboundIn`, not `Self.`: in a class `Self` is the
    /// dynamic type, and the optimiser then left NIO's unwrap generic (a run-time cast and type
    /// lookups, ~3,000 instructions per proxied request under callgrind).
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200:
            responseUnderway = true
        case .end:
            responseUnderway = false
        case .head, .body:
            break
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension HTTP1ProtocolErrorHandler: Sendable {}
