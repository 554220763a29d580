import Logging
import NIOCore

/// The first handler of a client connection on a listener with `proxy_protocol`: holds the bytes
/// until `ProxyProtocolGate` decides, records the client a trusted header names in the connection's
/// `ConnectionClientAddress`, passes whatever followed the header (often in the same read) on
/// unchanged, and leaves the pipeline. Bad or missing headers, headers from untrusted peers and
/// peers that do not finish within `header_timeout` are closed with a log line naming the peer and
/// the reason; none of their bytes reach TLS.
final class ProxyProtocolHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let settings: ProxyProtocolConfiguration
    private let client: ConnectionClientAddress
    private let listener: String
    private let logger: Logger
    private var buffered: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var trusted = false
    private var done = false

    init(settings: ProxyProtocolConfiguration, client: ConnectionClientAddress, listener: String, logger: Logger) {
        self.settings = settings
        self.client = client
        self.listener = listener
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The peer address is the socket's (`client` has not been changed yet).
        trusted = client.address.map { settings.trustedSources.containsAddress($0) } ?? false
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(settings.headerTimeout)) { [self] in
            timer = nil
            refuse(context: context, reason: "no complete PROXY protocol header within \(settings.headerTimeout)")
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }  // refused: the close is under way
        var incoming = unwrapInboundIn(data)
        if buffered == nil {
            buffered = incoming
        } else {
            buffered!.writeBuffer(&incoming)
        }
        let verdict = buffered!.withUnsafeReadableBytes {
            ProxyProtocolGate.verdict(
                $0, trusted: trusted, required: settings.required,
                v2MaximumLength: ProxyProtocolParser.defaultV2MaximumLength)
        }
        switch verdict {
        case .needMore:
            return
        case .refuse(let reason):
            refuse(context: context, reason: reason)
        case .direct:
            pass(context: context, skipping: 0)
        case .header(let header, let consumed):
            if let source = header.source { client.record(proxied: source.address) }
            pass(context: context, skipping: consumed)
        }
    }

    /// Hands the bytes after the header to the next handler and leaves the pipeline.
    private func pass(context: ChannelHandlerContext, skipping consumed: Int) {
        done = true
        timer?.cancel()
        timer = nil
        var rest = buffered!
        buffered = nil
        rest.moveReaderIndex(forwardBy: consumed)
        if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(context: ChannelHandlerContext, reason: String) {
        guard !done else { return }
        done = true
        buffered = nil
        logger.warning(
            "connection refused before TLS",
            metadata: [
                "listener": "\(listener)",
                "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")",
                "reason": "\(reason)"
            ])
        context.close(promise: nil)
    }
}
