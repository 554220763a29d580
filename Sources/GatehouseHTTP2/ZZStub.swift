import NIOCore
public struct HTTP2Settings: Sendable { public init() {} }
public final class HTTP2ServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = TaggedResponsePart
    public init(settings: HTTP2Settings) {}
}
