import NIOCore

/// One half of a spliced pair of channels (client ↔ backend): what one channel reads, its partner
/// writes. Backpressure: a channel reads only while its partner is writable (the `read` request is
/// held back otherwise and replayed when the partner drains). Half-close: end of input on one side
/// shuts the partner's output, so `shutdown(SHUT_WR)` travels through; once both directions have
/// ended both channels close. Any error, or either channel closing, closes both.
final class SpliceHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Which side this handler sits on, to count bytes in the right column.
    enum Side { case client, backend }

    private let side: Side
    private let record: PassthroughRecord
    private var partner: SpliceHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var inputEnded = false
    private var outputEnded = false

    init(side: Side, record: PassthroughRecord) {
        self.side = side
        self.record = record
    }

    /// Joins two handlers (both on one event loop).
    static func pair(_ a: SpliceHandler, _ b: SpliceHandler) {
        a.partner = b
        b.partner = a
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The partner may have asked to read before this half was in place (the backend channel
        // reads as soon as it connects): let it read now.
        if context.channel.isWritable { partner?.partnerWritable() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    // MARK: what the partner asks of this channel

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func write(_ data: NIOAny) { context?.write(data, promise: nil) }

    private func flush() { context?.flush() }

    /// The partner's input ended: no more bytes will come for this channel's output.
    private func shutdownOutput() {
        outputEnded = true
        guard let context else { return }
        context.close(mode: .output, promise: nil)
        closeIfDone()
    }

    private func closeAll() {
        context?.close(promise: nil)
    }

    /// The partner became writable: replay a held-back read.
    private func partnerWritable() {
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    private func closeIfDone() {
        if inputEnded && outputEnded {
            closeAll()
            partner?.closeAll()
        }
    }

    // MARK: events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = Int64(unwrapInboundIn(data).readableBytes)
        switch side {
        case .client: record.bytesFromClient += count
        case .backend: record.bytesFromBackend += count
        }
        partner?.write(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerWritable() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputEnded = true
            partner?.shutdownOutput()
            closeIfDone()
            return
        }
        if event is IdleStateHandler.IdleStateEvent {
            record.end("idle_timeout")
            closeAll()
            partner?.closeAll()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.closeAll()
        record.write()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        record.end("error (\(side)): \(error)")
        closeAll()
        partner?.closeAll()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
