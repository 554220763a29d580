import NIOCore
import NIOHTTP1

/// Identifies one request/response exchange on a client connection: the HTTP/2 stream id, or for
/// HTTP/1.1 a per-connection sequence number (1, 2, 3, ...) in request order.
public struct HTTPStreamID: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public var description: String { "stream \(rawValue)" }
}

/// A request part tagged with its stream: the one shape that both the HTTP/1.1 path and
/// `HTTP2ServerHandler` deliver inbound to the proxy, so the proxy is protocol-agnostic.
/// For HTTP/2 the head's `version` is 2.0, pseudo-headers are already mapped (`:method`,
/// `:path` to method and uri; `:authority` to a `Host` header), `cookie` crumbs are joined, and a
/// request whose body has no declared length (DATA without content-length) carries
/// `transfer-encoding: chunked`, so its framing headers describe its body as on HTTP/1.1.
public struct TaggedRequestPart {
    public var stream: HTTPStreamID
    public var part: HTTPServerRequestPart
    public init(stream: HTTPStreamID, part: HTTPServerRequestPart) {
        self.stream = stream
        self.part = part
    }
}

/// A response part tagged with its stream: what the proxy writes outbound. The protocol handler
/// maps it to HTTP/1.1 bytes or HTTP/2 frames (dropping connection-specific headers for h2).
public struct TaggedResponsePart {
    public var stream: HTTPStreamID
    public var part: HTTPServerResponsePart
    public init(stream: HTTPStreamID, part: HTTPServerResponsePart) {
        self.stream = stream
        self.part = part
    }
}

/// Takes request parts by a direct call from the protocol handler right in front of it, instead of
/// as `TaggedRequestPart`s through the pipeline: those are too big for `NIOAny`'s inline storage
/// (a heap box per part) and each pipeline hop costs a run-time cast. The proxy implements it;
/// the protocol handler calls it only on its event loop, where it would have fired the part.
public protocol StreamPartReceiver: AnyObject {
    /// One request part of `stream`, in the order the protocol handler would have fired it.
    func receive(_ part: HTTPServerRequestPart, stream: HTTPStreamID)
}

/// The protocol handler in front of the proxy (the HTTP/1.1 adapter, `HTTP2ServerHandler`), linked
/// to it both ways: it hands request parts to `receiver`, and the proxy writes response parts with
/// `writeResponse`, both by direct calls (see `StreamPartReceiver`). Unlinked (`receiver` nil), the
/// pipeline carries tagged parts both ways. Each side drops its half of the link when it leaves the
/// pipeline, which ends the reference cycle with the channel.
public protocol StreamFrontHandler: AnyObject {
    /// Where request parts go; nil: through the pipeline as `TaggedRequestPart`s.
    var receiver: (any StreamPartReceiver)? { get set }
    /// One response part of `stream`, as a `TaggedResponsePart` written through the pipeline would be.
    func writeResponse(_ part: HTTPServerResponsePart, stream: HTTPStreamID, promise: EventLoopPromise<Void>?)
}

/// Inbound user events about streams, fired by the protocol handler towards the proxy.
public enum StreamEvent: Sendable, Equatable {
    /// The client aborted the stream (HTTP/2 RST_STREAM, or the connection closed mid-request):
    /// the proxy must stop work for it and release its backend connection.
    case reset(HTTPStreamID)
    /// The stream's outbound buffer crossed its high (false) or low (true) watermark: the proxy
    /// stops or resumes reading the backend for this stream. HTTP/1.1 uses channel writability instead.
    case writabilityChanged(HTTPStreamID, isWritable: Bool)
}

/// Outbound user events from the proxy to the protocol handler (`triggerUserOutboundEvent`).
public enum StreamCommand: Sendable, Equatable {
    /// The proxy has handed `bytes` of this stream's request body to the backend: the handler may
    /// now open the client's flow-control window by that much (HTTP/2 manual flow control).
    case consumed(HTTPStreamID, bytes: Int)
    /// Abort the stream (HTTP/2 RST_STREAM with `errorCode`; HTTP/1.1 closes the connection).
    case reset(HTTPStreamID, errorCode: UInt32)
    /// The stream's response is complete but its request body will not be read: the client must
    /// stop sending it (HTTP/2 RST_STREAM NO_ERROR, RFC 9113 §8.1; HTTP/1.1 closes the connection
    /// once the response is out, with a lingering close while the body still arrives).
    case stopSending(HTTPStreamID)
}
