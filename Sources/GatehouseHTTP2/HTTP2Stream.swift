import NIOCore
import NIOHTTP1

/// Everything the session tracks about one client-initiated stream: the request being assembled,
/// the flow-control debt towards the client, and the response bytes waiting for nghttp2.
/// A class so the session's dictionary holds one reference and mutation never copies state.
final class HTTP2Stream {
    /// Why a request was refused inside the handler (the proxy never sees it).
    enum Rejection: Equatable {
        /// Malformed per RFC 9113 §8.1.1: RST_STREAM(PROTOCOL_ERROR).
        case malformed
        /// NTLM/Negotiate authenticate the connection, which h2 cannot do: RST_STREAM(HTTP_1_1_REQUIRED).
        case http11Required
        /// Header list beyond `maxHeaderListSize`: 431 response.
        case headersTooLarge
        /// A method we do not proxy over h2 (CONNECT): RST_STREAM(REFUSED_STREAM).
        case refused
    }

    let id: Int32

    // MARK: request assembly (only until the head is delivered)
    var method: String?
    var path: String?
    var authority: String?
    var hostHeader: String?
    var cookie: String?
    var headers = HTTPHeaders()
    var headerListSize = 0
    var rejection: Rejection?
    /// A trailer block is being received (HEADERS after DATA).
    var trailers: HTTPHeaders?

    // MARK: inbound progress
    /// The proxy has seen the head, so it is owed `.end` or `StreamEvent.reset`.
    var deliveredHead = false
    var requestEnded = false
    /// Body bytes delivered to the proxy and not yet consumed (`StreamCommand.consumed`). Consumed
    /// by the session itself when the stream closes, so the connection window never leaks.
    var unconsumed = 0
    /// The stream's receive window was widened to `HTTP2Settings.uploadWindowSize` (at its first
    /// `consumed`: its body flows to a backend).
    var windowWidened = false
    /// The proxy reset this stream; it expects no events for it any more.
    var resetByProxy = false

    // MARK: outbound
    /// A final response head waiting to be submitted with the first body part, the end or a flush,
    /// so that a body-less response becomes one HEADERS frame with END_STREAM.
    var pendingHead: HTTPResponseHead?
    var responseSubmitted = false
    /// Body parts in order, each with the write promise completed when nghttp2 has framed all of it.
    var chunks = CircularBuffer<(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)>(initialCapacity: 4)
    var pendingBytes = 0
    var endQueued = false
    var outboundTrailers: HTTPHeaders?
    var endPromise: EventLoopPromise<Void>?
    /// The data provider returned NGHTTP2_ERR_DEFERRED and needs `resume_data` when parts arrive.
    var deferred = false
    var eofSent = false
    var isWritable = true

    init(id: Int32) { self.id = id }

    /// The response is fully handed to nghttp2.
    var responseFinished: Bool { eofSent }

    /// Drops request-assembly state once the head is delivered or refused (memory for long polls).
    func clearRequestAssembly() {
        method = nil
        path = nil
        authority = nil
        hostHeader = nil
        cookie = nil
        headers = HTTPHeaders()
    }
}
