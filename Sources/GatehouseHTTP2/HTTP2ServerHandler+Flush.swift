import GatehouseHTTP1
import NIOCore
import NIOHTTP1

extension HTTP2ServerHandler {
    /// Takes frames out of nghttp2 and writes them, while the channel is writable, in chunks of at
    /// most `maxOutboundBufferSize`; then completes write promises and delivers queued events.
    /// Loops until nothing new was requested meanwhile, and closes when the session is over.
    func flushOutput(context: ChannelHandlerContext) {
        guard let session, state.isServing else { return }
        if isFlushing {
            flushAgain = true
            return
        }
        isFlushing = true
        repeat {
            flushAgain = false
            session.applyDeferredActions()
            while context.channel.isWritable {
                guard session.produce(limit: settings.maxOutboundBufferSize) else {
                    isFlushing = false
                    closeNow(context: context)
                    return
                }
                guard let output = session.takeOutput() else { break }
                context.write(wrapOutboundOut(output), promise: nil)
                // Flush per chunk so writability reflects what the channel really holds.
                context.flush()
            }
            session.completePromises()
            deliverEvents(context: context)
        } while (flushAgain || session.hasDeferredActions) && state.isServing
        isFlushing = false
        if state.isServing && !session.wantsRead && !session.wantsWrite {
            closeNow(context: context)
        }
    }

    /// One request part to the linked proxy, or through the pipeline when none is linked.
    private func deliver(_ part: HTTPServerRequestPart, stream: HTTPStreamID, context: ChannelHandlerContext) {
        if let receiver {
            receiver.receive(part, stream: stream)
        } else {
            context.fireChannelRead(wrapInboundOut(TaggedRequestPart(stream: stream, part: part)))
        }
    }

    /// Fires the events nghttp2's callbacks queued, in order. Events queued while delivering
    /// (because the proxy wrote and flushed in response) are delivered by the same loop.
    func deliverEvents(context: ChannelHandlerContext) {
        guard let session, !isDelivering else { return }
        isDelivering = true
        var index = 0
        while index < session.events.count, state.isServing {
            let event = session.events[index]
            index += 1
            switch event {
            case .head(let id, let head):
                deliver(.head(head), stream: HTTPStreamID(id), context: context)
            case .body(let id, let buffer):
                deliver(.body(buffer), stream: HTTPStreamID(id), context: context)
            case .end(let id, let trailers):
                deliver(.end(trailers), stream: HTTPStreamID(id), context: context)
            case .reset(let id):
                context.fireUserInboundEventTriggered(StreamEvent.reset(HTTPStreamID(id)))
            case .writabilityChanged(let id, let writable):
                context.fireUserInboundEventTriggered(StreamEvent.writabilityChanged(HTTPStreamID(id), isWritable: writable))
            case .settingsAcknowledged:
                settingsTimer?.cancel()
                settingsTimer = nil
            }
        }
        session.events.removeAll(keepingCapacity: true)
        isDelivering = false
        noteStreamCount(context: context)
    }

    /// Closes the channel once; the session is over or broken.
    func closeNow(context: ChannelHandlerContext) {
        guard state.sessionFinished() == .close else { return }
        cancelTimers()
        context.close(promise: nil)
    }

    /// Sends GOAWAY(NO_ERROR) with the last accepted stream; the connection closes when open
    /// streams have finished (nghttp2 then wants neither read nor write).
    func beginDraining(context: ChannelHandlerContext) {
        guard let session, state.beginDraining() == .sendGoaway else { return }
        session.submitGracefulGoaway()
        flushOutput(context: context)
    }
}

extension HTTP2Session {
    /// Callbacks queued work that needs another pass of the flush loop.
    var hasDeferredActions: Bool {
        !pendingConsumes.isEmpty || !pendingResets.isEmpty || !pendingTooLarge.isEmpty || !headsAwaitingSubmit.isEmpty
    }
}
