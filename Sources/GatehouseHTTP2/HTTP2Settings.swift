import NIOCore

/// Limits and tunables of one HTTP/2 client connection. The defaults are safe for an internet-facing
/// Exchange front end: big enough for Kerberos headers and bulk uploads, small enough that one client
/// cannot pin much memory or CPU (Rapid Reset, CONTINUATION and SETTINGS floods are bounded).
public struct HTTP2Settings: Sendable, Hashable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised to the client; nghttp2 refuses streams beyond it.
    public var maxConcurrentStreams: Int = 100
    /// SETTINGS_INITIAL_WINDOW_SIZE: how many request-body bytes a client may send on one stream
    /// before the proxy has consumed them (`StreamCommand.consumed`). 64 KiB, the most an HTTP/1.1
    /// request queues while its backend connection opens: the proxy credits a stream only as its
    /// backend takes the bytes, so this bounds what one stream can make the proxy hold.
    public var initialStreamWindowSize: Int = 64 << 10
    /// The receive window a stream gets once the proxy consumes its body (the first
    /// `StreamCommand.consumed`: a backend connection takes the bytes). With 64 KiB a client can
    /// only ever have 32-64 KiB in flight, and an upload costs a WINDOW_UPDATE, a client read and
    /// a TLS record per 32 KiB: about three times the system calls of the same upload over
    /// HTTP/1.1. Credit still stops when the backend stops taking bytes, so this is what one
    /// stream whose backend stalls can make the proxy hold; the connection window bounds them all.
    /// Not above `connectionWindowSize`; no effect when not above `initialStreamWindowSize`.
    public var uploadWindowSize: Int = 1 << 20
    /// The connection-level receive window, opened with a WINDOW_UPDATE right after the preface.
    /// Larger than the stream window so that several uploads can progress at once.
    public var connectionWindowSize: Int = 16 << 20
    /// SETTINGS_MAX_HEADER_LIST_SIZE, enforced per request (name + value + 32 per field, RFC 9113
    /// §6.5.2). Larger requests get a 431 response. Kerberos tokens make big headers.
    public var maxHeaderListSize: Int = 256 << 10
    /// Client RST_STREAMs tolerated as a burst, then refilled at `streamResetRate` per second;
    /// beyond that the connection is closed with GOAWAY (CVE-2023-44487, "Rapid Reset").
    public var streamResetBurst: Int = 1000
    /// Refill rate (per second) of the RST_STREAM allowance.
    public var streamResetRate: Int = 33
    /// The most CONTINUATION frames accepted for one header block (CONTINUATION flood).
    public var maxContinuations: Int = 16
    /// The most entries accepted in one SETTINGS frame.
    public var maxSettingsEntries: Int = 32
    /// Per-stream outbound buffer (response bytes written by the proxy, not yet framed by nghttp2)
    /// above which the stream reports `StreamEvent.writabilityChanged(isWritable: false)`.
    public var streamBufferHighWatermark: Int = 256 << 10
    /// The level below which a paused stream reports `writabilityChanged(isWritable: true)` again.
    public var streamBufferLowWatermark: Int = 64 << 10
    /// The most bytes taken out of nghttp2 and written to the channel at once. Production continues
    /// only while the channel is writable, so at most this much sits beyond the channel's own write
    /// buffer; what nghttp2 could not send stays in the per-stream buffers, which the watermarks bound.
    public var maxOutboundBufferSize: Int = 64 << 10
    /// How long the client may take to acknowledge our SETTINGS before GOAWAY(SETTINGS_TIMEOUT).
    public var settingsAckTimeout: TimeAmount = .seconds(10)
    /// A connection with no open stream for this long is closed with GOAWAY(NO_ERROR). ActiveSync
    /// Ping and MAPI NotificationWait are open streams, so this never cuts a long poll.
    public var idleTimeout: TimeAmount = .seconds(120)
    /// The longest a header block may take from its HEADERS frame to its END_HEADERS (slowloris:
    /// HEADERS without END_HEADERS, then nothing, would otherwise hold the connection forever, as
    /// a stream is open). Past it: GOAWAY(NO_ERROR) and close, as HTTP/1.1's header timeout.
    public var headerTimeout: TimeAmount = .seconds(30)

    /// Creates settings with the safe defaults above.
    public init() {}
}

/// An error reported by the HTTP/2 layer, e.g. on a write promise. A struct so that cases can be added.
public struct HTTP2Error: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case streamClosed, sessionClosed, protocolViolation, internalError
    }
    private let code: Code
    /// A detail for logs (e.g. the nghttp2 error text); not part of equality.
    public let detail: String

    /// The stream was reset or closed before the part could be sent: the write was dropped.
    public static let streamClosed = HTTP2Error(code: .streamClosed, detail: "stream closed")
    /// The connection closed before the part could be sent.
    public static let sessionClosed = HTTP2Error(code: .sessionClosed, detail: "session closed")
    /// The proxy wrote parts in an impossible order (e.g. a body before the head).
    public static let protocolViolation = HTTP2Error(code: .protocolViolation, detail: "response parts out of order")

    /// nghttp2 rejected an operation; `detail` carries its message.
    static func nghttp2(_ text: String) -> HTTP2Error { HTTP2Error(code: .internalError, detail: text) }

    public var description: String { "HTTP2Error: \(detail)" }
    public static func == (lhs: HTTP2Error, rhs: HTTP2Error) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
