import NIOCore

/// Outbound: plaintext held and coalesced until flush, encrypted once per flush; close_notify.
extension OpenSSLHandler {
    /// Largest slice given to one SSL_write, and the most ciphertext collected in one buffer before
    /// it is passed on (unflushed), so a huge write never sits in memory twice.
    private static let writeSlice = 256 * 1024
    /// Flushed buffers smaller than a full TLS record are gathered with their neighbours.
    private static let gatherBelow = 16 * 1024

    /// Holds plaintext until `flush()`; refuses it once the connection is closing.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard state.acceptsWrites else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        unflushed.append((unwrapOutboundIn(data), promise))
    }

    /// Encrypts everything written so far (or holds it until the handshake completes).
    public func flush(context: ChannelHandlerContext) {
        if flushed.isEmpty {
            // The common case: hand the whole batch over without copying the array.
            swap(&flushed, &unflushed)
        } else if !unflushed.isEmpty {
            flushed.append(contentsOf: unflushed)
            unflushed.removeAll(keepingCapacity: true)
        }
        // Before the handshake completes, flushed writes wait in `flushed`.
        if state.canEncrypt { encryptFlushed(context: context) }
    }

    /// Encrypts all flushed plaintext and writes the ciphertext; the plaintext promises complete
    /// with that ciphertext write.
    ///
    /// Not re-entrant: writing ciphertext can trigger events whose handlers flush again; such a
    /// flush only queues, and the loop here picks the new batch up.
    func encryptFlushed(context: ChannelHandlerContext) {
        guard let connection, !isEncrypting else { return }
        isEncrypting = true
        defer { isEncrypting = false }
        while !flushed.isEmpty && state.canEncrypt {
            let count = flushed.count
            let outcome = encryptBatch(count: count, connection: connection, context: context)
            // One promise for the ciphertext write; a combined one only when several wait.
            var combined: EventLoopPromise<Void>? = nil
            var fanOut: EventLoopPromise<Void>? = nil
            for index in 0..<count {
                guard let promise = flushed[index].1 else { continue }
                if case .failed(let error) = outcome {
                    promise.fail(error)
                } else if combined == nil {
                    combined = promise
                } else {
                    if fanOut == nil {
                        let shared = context.eventLoop.makePromise(of: Void.self)
                        shared.futureResult.cascade(to: combined)
                        fanOut = shared
                        combined = shared
                    }
                    fanOut!.futureResult.cascade(to: promise)
                }
            }
            if count == flushed.count { flushed.removeAll(keepingCapacity: true) } else { flushed.removeFirst(count) }
            if case .failed(let error) = outcome {
                fail(context: context, error: error)
                return
            }
            flushCiphertext(context: context, promise: combined)
        }
    }

    /// SSL_write of the first `count` flushed buffers, in order. A buffer of a full record or more
    /// is encrypted where it lies; a run of smaller ones (NIOHTTP1 writes head, chunk framing and
    /// end apart) is copied together first, so it becomes one record rather than one each. The old
    /// way, copying every batch into one buffer, cost a copy of every byte sent, in a buffer as
    /// large as the batch (fresh pages each time, once glibc had trimmed the last one).
    private func encryptBatch(count: Int, connection: TLSConnection, context: ChannelHandlerContext) -> TLSConnection.Outcome {
        var remaining = 0
        var smallBytes = 0
        for index in 0..<count {
            let bytes = flushed[index].0.readableBytes
            remaining += bytes
            if bytes < Self.gatherBelow { smallBytes += bytes }
        }
        // Holds the runs of small buffers one after the other (allocated once, for all of them).
        var gathered: ByteBuffer? = nil
        var runStart = 0
        for index in 0...count {
            let large = index < count && flushed[index].0.readableBytes >= Self.gatherBelow
            guard large || index == count else { continue }
            var outcome = TLSConnection.Outcome.done
            if index - runStart == 1 {
                outcome = encrypt(flushed[runStart].0, remaining: &remaining, connection: connection, context: context)
            } else if index - runStart > 1 {
                if gathered == nil { gathered = context.channel.allocator.buffer(capacity: smallBytes) }
                for part in runStart..<index {
                    var bytes = flushed[part].0
                    gathered!.writeBuffer(&bytes)
                }
                outcome = encrypt(gathered!, remaining: &remaining, connection: connection, context: context)
                gathered!.moveReaderIndex(to: gathered!.writerIndex)
            }
            if case .failed = outcome { return outcome }
            if large {
                outcome = encrypt(flushed[index].0, remaining: &remaining, connection: connection, context: context)
                if case .failed = outcome { return outcome }
            }
            runStart = index + 1
        }
        return .done
    }

    /// SSL_write of one buffer's readable bytes, in slices of at most `writeSlice`. Ciphertext
    /// collects in one buffer sized for up to a slice of the batch's `remaining` plaintext; when the
    /// next slice does not fit, or would take it past a slice's ciphertext, what is there is
    /// written (not flushed) and a new one begins, so the ciphertext buffer is never regrown (a
    /// copy) and a huge write never sits in memory twice.
    private func encrypt(
        _ buffer: ByteBuffer, remaining: inout Int, connection: TLSConnection, context: ChannelHandlerContext
    ) -> TLSConnection.Outcome {
        buffer.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let end = min(raw.count, offset + Self.writeSlice)
                let bytes = end - offset
                let needed = TLSConnection.ciphertextBytes(forPlaintext: bytes)
                // (Capacities are rounded up to a power of two: the room can exceed a slice.)
                if connection.ciphertextRoom < needed
                    || connection.pendingCiphertext + needed > TLSConnection.ciphertextBytes(forPlaintext: Self.writeSlice)
                {
                    if let output = connection.takeCiphertext() {
                        context.write(wrapOutboundOut(output), promise: nil)
                    }
                    connection.reserveCiphertext(forPlaintext: min(max(remaining, bytes), Self.writeSlice))
                }
                let outcome = connection.write(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                if case .failed = outcome { return outcome }
                remaining -= bytes
                offset = end
            }
            return .done
        }
    }

    /// Writes and flushes whatever ciphertext the SSL produced (handshake records, alerts,
    /// application data). `promise` completes with that write (or at once when there is none).
    func flushCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        guard let output = connection?.takeCiphertext() else {
            // Nothing new to write, but earlier unflushed slices may be waiting.
            if let promise {
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
            }
            return
        }
        context.writeAndFlush(wrapOutboundOut(output), promise: promise)
    }

    /// `.all`: close_notify then close; `.output`: close_notify then TCP half-close; `.input`: passed on.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: .input, promise: promise)
        case .output:
            // Half-close: flushed data, then close_notify, then TCP shutdown(write).
            guard state.state == .active else {
                context.close(mode: .output, promise: promise)
                return
            }
            encryptFlushed(context: context)
            guard state.closeOutput() else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            connection?.shutdown()
            unflushed.forEach { $0.1?.fail(ChannelError.outputClosed) }
            unflushed.removeAll()
            let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            let written = context.eventLoop.makePromise(of: Void.self)
            flushCiphertext(context: context, promise: written)
            written.futureResult.whenComplete { _ in
                loopBoundContext.value.close(mode: .output, promise: promise)
            }
        case .all:
            switch state.closeRequested() {
            case .closeNow:
                timeoutTask?.cancel()
                failBufferedWrites(ChannelError.ioOnClosedChannel)
                context.close(mode: .all, promise: promise)
            case .sendCloseNotifyThenClose:
                encryptFlushed(context: context)
                sendCloseNotifyThenClose(context: context, mode: .all, promise: promise)
            case .alreadyClosing:
                context.close(mode: .all, promise: promise)
            }
        }
    }

    /// Queues close_notify, writes it, and closes the channel once the write is done (closing
    /// earlier would make NIO drop the pending close_notify).
    func sendCloseNotifyThenClose(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        failBufferedWrites(ChannelError.ioOnClosedChannel)
        connection?.shutdown()
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let written = context.eventLoop.makePromise(of: Void.self)
        flushCiphertext(context: context, promise: written)
        written.futureResult.whenComplete { _ in
            loopBoundContext.value.close(mode: mode, promise: promise)
        }
    }
}
