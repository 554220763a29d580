import NIOCore
import NIOTLS

/// Inbound: ciphertext in, handshake progress, plaintext out.
extension OpenSSLHandler {
    /// Feeds ciphertext to the SSL, then advances the handshake or decrypts.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let connection, state.state != .closed else { return }
        inReadBurst = true
        connection.feed(buffer)
        switch state.state {
        case .idle:
            start(context: context)
            runHandshake(context: context)
        case .handshaking:
            runHandshake(context: context)
        case .active, .closing:
            readPlaintext(context: context, expected: buffer.readableBytes)
        case .closed:
            break
        }
    }

    /// Sends any ciphertext the reads produced and passes the event on.
    public func channelReadComplete(context: ChannelHandlerContext) {
        // The scratch buffer is reused within one read burst only: an idle connection keeps no
        // buffer (memory per idle connection is a target).
        readScratch = nil
        inReadBurst = false
        flushCiphertext(context: context)
        context.fireChannelReadComplete()
        // With autoRead off, a read that produced only part of a record must be followed by
        // another, or the pipeline would wait forever for plaintext.
        if pendingRead && state.state != .closed { context.read() }
    }

    /// Remembers that downstream wants data (for autoRead off), then asks the channel.
    public func read(context: ChannelHandlerContext) {
        pendingRead = true
        context.read()
    }

    /// Advances the handshake with the buffered input; on completion reports it and then reads
    /// any application data that arrived in the same segment (pitfall 6: event first).
    func runHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        switch connection.handshake() {
        case .done:
            flushHandshakeOutput(context: context)
            guard state.handshakeCompleted() else { return }
            timeoutTask?.cancel()
            timeoutTask = nil
            let info = connection.info
            connectionInfo = info
            context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: info.negotiatedProtocol))
            // The event may have closed the channel or changed the pipeline: re-check.
            guard state.state == .active else { return }
            encryptFlushed(context: context)
            // Application data (or a TLS 1.3 ticket) may have come with the peer's last flight.
            if connection.hasReadableInput {
                readPlaintext(context: context, expected: connection.bufferedInbound)
            }
        case .wantRead:
            flushHandshakeOutput(context: context)
            context.read()
        case .closeNotify:
            fail(
                context: context,
                error: TLSError(
                    .handshake, "TLS handshake failed: \(peerName) sent close_notify during the handshake", serverName: clientServerName))
        case .failed(let error):
            fail(context: context, error: error)
        }
    }

    /// Decrypts everything available into one buffer and forwards it.
    func readPlaintext(context: ChannelHandlerContext, expected: Int) {
        guard let connection else { return }
        // Plaintext never exceeds the ciphertext it came from: size the buffer for that up front.
        var buffer = readScratch ?? context.channel.allocator.buffer(capacity: max(expected, 1024))
        readScratch = nil
        buffer.clear()
        if expected > buffer.writableBytes { buffer.reserveCapacity(minimumWritableBytes: expected) }
        let outcome = connection.readPlaintext(into: &buffer)
        if buffer.readableBytes > 0 {
            state.applicationDataReceived()
            pendingRead = false
            context.fireChannelRead(wrapInboundOut(buffer))
        }
        // Keep the buffer: if downstream let go of it, the next clear() reuses its storage.
        readScratch = buffer
        // Post-handshake messages (key update, tickets) may need an answer.
        flushHandshakeOutput(context: context)
        switch outcome {
        case .done, .wantRead:
            break
        case .closeNotify:
            closeNotifyReceived(context: context)
        case .failed(let error):
            fail(context: context, error: error)
        }
    }

    /// Sends protocol output now, or (inside a read burst) leaves it for channelReadComplete or the
    /// next application write, whichever comes first: both happen in this event-loop tick.
    func flushHandshakeOutput(context: ChannelHandlerContext) {
        if !inReadBurst { flushCiphertext(context: context) }
    }

    /// The peer ended its direction cleanly.
    private func closeNotifyReceived(context: ChannelHandlerContext) {
        switch state.closeNotifyReceived(allowHalfClosure: allowHalfClosure) {
        case .reportInputClosed:
            if state.shouldReportInputClosed() { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        case .replyAndClose:
            sendCloseNotifyThenClose(context: context, mode: .all, promise: nil)
        case .closeNow:
            context.close(promise: nil)
        }
    }
}
