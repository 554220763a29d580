import NIOCore
// Placeholder until the nghttp2 handler lands: keeps the proxy building, and tells the runtime
// not to offer h2 by ALPN.
public struct HTTP2Settings: Sendable { public init() {} }
public final class HTTP2ServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = TaggedResponsePart
    public static let isAvailable = false
    public init(settings: HTTP2Settings) {}
}
