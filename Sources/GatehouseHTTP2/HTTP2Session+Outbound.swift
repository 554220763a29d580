import CNGHTTP2
import NIOCore
import NIOHTTP1

extension HTTP2Session {
    // MARK: writes from the proxy (never called from inside an nghttp2 callback)

    /// Accepts a response head. 1xx heads go out at once as non-final HEADERS; a final head waits
    /// for the body, the end or the next flush, so a body-less response is a single frame.
    func writeHead(stream id: Int32, _ head: HTTPResponseHead, promise: EventLoopPromise<Void>?) {
        guard let stream = streams[id], !stream.resetByProxy else {
            // The client reset the stream (or it never existed): drop silently.
            completions.appendIfPresent(promise, .streamClosed)
            return
        }
        let code = Int(head.status.code)
        if code >= 100 && code < 200 {
            // 101 has no meaning in HTTP/2 (RFC 9113 §8.6); other 1xx (100 Continue for Outlook's
            // Expect) are sent as informational HEADERS without END_STREAM.
            if code != 101 && !stream.responseSubmitted && stream.pendingHead == nil {
                _ = withHeaderBlock(status: code, headers: head.headers) { nva, count in
                    nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, nil, nva, count, nil)
                }
            }
            completions.appendIfPresent(promise, nil)
            return
        }
        guard stream.pendingHead == nil, !stream.responseSubmitted else {
            completions.appendIfPresent(promise, .protocolViolation)
            return
        }
        stream.pendingHead = head
        headsAwaitingSubmit.append(id)
        completions.appendIfPresent(promise, nil)
    }

    /// Queues a body part for the stream's data provider and wakes it if it was deferred.
    func writeBody(stream id: Int32, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let stream = streams[id], !stream.resetByProxy, !stream.endQueued else {
            completions.appendIfPresent(promise, .streamClosed)
            return
        }
        guard stream.pendingHead != nil || stream.responseSubmitted else {
            completions.appendIfPresent(promise, .protocolViolation)
            return
        }
        guard buffer.readableBytes > 0 else {
            completions.appendIfPresent(promise, nil)
            return
        }
        stream.chunks.append((buffer, promise))
        stream.pendingBytes += buffer.readableBytes
        if stream.pendingHead != nil { submitPendingHead(stream) } else { resumeIfDeferred(stream) }
        if stream.isWritable && stream.pendingBytes > settings.streamBufferHighWatermark {
            stream.isWritable = false
            events.append(.writabilityChanged(id, false))
        }
    }

    /// Marks the end of the response (with optional trailers); the provider sends EOF exactly once.
    func writeEnd(stream id: Int32, trailers: HTTPHeaders?, promise: EventLoopPromise<Void>?) {
        guard let stream = streams[id], !stream.resetByProxy, !stream.endQueued else {
            completions.appendIfPresent(promise, .streamClosed)
            return
        }
        guard stream.pendingHead != nil || stream.responseSubmitted else {
            completions.appendIfPresent(promise, .protocolViolation)
            return
        }
        stream.endQueued = true
        stream.outboundTrailers = (trailers?.isEmpty ?? true) ? nil : trailers
        stream.endPromise = promise
        if stream.pendingHead != nil { submitPendingHead(stream) } else { resumeIfDeferred(stream) }
    }

    /// The proxy forwarded `bytes` of the stream's body: open the client's window by that much.
    func consumed(stream id: Int32, bytes: Int) {
        // A stream we no longer track was already settled in `streamClosed`.
        guard bytes > 0, let stream = streams[id], stream.unconsumed > 0 else { return }
        let n = min(bytes, stream.unconsumed)
        stream.unconsumed -= n
        // Fails only for invalid arguments (stream 0) or NOMEM; nothing to recover.
        _ = nghttp2_session_consume(session, id, n)
        if !stream.windowWidened {
            // The body flows to a backend: a wider window, sent as one WINDOW_UPDATE, so the
            // client's reads and ours come in bigger pieces (HTTP2Settings.uploadWindowSize).
            stream.windowWidened = true
            let widened = min(settings.uploadWindowSize, settings.connectionWindowSize)
            if widened > settings.initialStreamWindowSize {
                _ = nghttp2_session_set_local_window_size(
                    session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, Int32(clamping: widened))
            }
        }
    }

    /// The proxy aborts a stream: RST_STREAM, settle the window, drop queued response parts.
    func resetStream(_ id: Int32, errorCode: UInt32) {
        guard let stream = streams[id], !stream.resetByProxy else { return }
        stream.resetByProxy = true
        if stream.unconsumed > 0 {
            _ = nghttp2_session_consume(session, id, stream.unconsumed)
            stream.unconsumed = 0
        }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, errorCode)
        failOutbound(stream, with: .streamClosed)
    }

    /// Submits a stored final head: with a data provider, or alone with END_STREAM if the
    /// response is already known to be empty.
    func submitPendingHead(_ stream: HTTP2Stream) {
        guard let head = stream.pendingHead else { return }
        stream.pendingHead = nil
        stream.responseSubmitted = true
        let id = stream.id
        let bodyless = stream.endQueued && stream.chunks.isEmpty && stream.outboundTrailers == nil
        let rv = withHeaderBlock(status: Int(head.status.code), headers: head.headers) { nva, count -> Int32 in
            if bodyless {
                return nghttp2_submit_response(session, id, nva, count, nil)
            }
            // nghttp2 copies the provider struct; the read callback finds the stream by id.
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: dataSourceRead)
            return nghttp2_submit_response(session, id, nva, count, &provider)
        }
        if rv != 0 {
            failOutbound(stream, with: .nghttp2(String(cString: nghttp2_strerror(rv))))
            return
        }
        if bodyless {
            stream.eofSent = true
            completions.appendIfPresent(stream.endPromise, nil)
            stream.endPromise = nil
        }
    }

    /// Wakes a data provider that returned NGHTTP2_ERR_DEFERRED (pitfall 4).
    private func resumeIfDeferred(_ stream: HTTP2Stream) {
        guard stream.deferred else { return }
        stream.deferred = false
        // Errors only if the stream is gone or not deferred, both harmless here.
        _ = nghttp2_session_resume_data(session, stream.id)
    }

    /// Completes every queued write of a stream with `error` (the stream or connection is gone).
    func failOutbound(_ stream: HTTP2Stream, with error: HTTP2Error) {
        while let chunk = stream.chunks.popFirst() {
            completions.appendIfPresent(chunk.promise, error)
        }
        stream.pendingBytes = 0
        completions.appendIfPresent(stream.endPromise, error)
        stream.endPromise = nil
        stream.pendingHead = nil
    }

    /// Completes the promises collected while nghttp2 was running. User code runs here, so this is
    /// called only from the handler, outside any nghttp2 call.
    func completePromises() {
        while !completions.isEmpty {
            let batch = completions
            completions.removeAll()
            for (promise, error) in batch {
                if let error { promise.fail(error) } else { promise.succeed() }
            }
        }
    }

    // MARK: data provider (called by nghttp2 during mem_send)

    /// The data source read callback: how many bytes the next DATA frame carries. Returns
    /// NGHTTP2_ERR_DEFERRED when the proxy has not written more yet, sets EOF exactly once, and
    /// asks for NO_COPY so `sendData` appends the payload itself.
    func readData(stream id: Int32, maxLength: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[id], !stream.eofSent else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        if stream.pendingBytes == 0 {
            guard stream.endQueued else {
                stream.deferred = true
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
            finishBody(stream, flags: flags)
            return 0
        }
        let n = min(maxLength, stream.pendingBytes)
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
        if n == stream.pendingBytes && stream.endQueued { finishBody(stream, flags: flags) }
        return n
    }

    /// Sets EOF on the last DATA frame; with trailers, keeps the stream open for them.
    private func finishBody(_ stream: HTTP2Stream, flags: UnsafeMutablePointer<UInt32>) {
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        stream.eofSent = true
        if let trailers = stream.outboundTrailers {
            flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
            // nghttp2 documents submit_trailer as allowed inside the read callback (it only queues
            // a HEADERS frame); this is the one submit made from a callback.
            let id = stream.id
            _ = withHeaderBlock(status: nil, headers: trailers) { nva, count in
                nghttp2_submit_trailer(session, id, nva, count)
            }
        }
        completions.appendIfPresent(stream.endPromise, nil)
        stream.endPromise = nil
    }

    /// The send_data callback: appends the DATA frame header and `length` payload bytes taken from
    /// the stream's queued parts to `output`, completing promises of fully sent parts.
    /// Returns false (a session failure) if the stream or its bytes are unexpectedly missing, since
    /// a frame header without its payload would corrupt the connection.
    func sendData(stream id: Int32, frameHeader: UnsafePointer<UInt8>, length: Int) -> Bool {
        guard let stream = streams[id], stream.pendingBytes >= length else { return false }
        if output.capacity == 0 { output.reserveCapacity(min(settings.maxOutboundBufferSize, 64 << 10)) }
        output.writeBytes(UnsafeRawBufferPointer(start: frameHeader, count: 9))
        var remaining = length
        while remaining > 0, !stream.chunks.isEmpty {
            let first = stream.chunks.startIndex
            let available = stream.chunks[first].buffer.readableBytes
            if available <= remaining {
                let chunk = stream.chunks.removeFirst()
                output.writeImmutableBuffer(chunk.buffer)
                completions.appendIfPresent(chunk.promise, nil)
                remaining -= available
            } else {
                let slice = stream.chunks[first].buffer.readSlice(length: remaining)!
                output.writeImmutableBuffer(slice)
                remaining = 0
            }
        }
        stream.pendingBytes -= length
        if !stream.isWritable && stream.pendingBytes <= settings.streamBufferLowWatermark {
            stream.isWritable = true
            events.append(.writabilityChanged(id, true))
        }
        return true
    }

    /// Submits a 431 (Request Header Fields Too Large) for a refused request, body-less.
    func submitTooLarge(_ id: Int32) {
        guard let stream = streams[id] else { return }
        stream.responseSubmitted = true
        stream.eofSent = true
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: "0")
        _ = withHeaderBlock(status: 431, headers: headers) { nva, count in
            nghttp2_submit_response(session, id, nva, count, nil)
        }
    }
}

extension Array where Element == (EventLoopPromise<Void>, HTTP2Error?) {
    /// Records a promise outcome if there is a promise.
    @inline(__always)
    mutating func appendIfPresent(_ promise: EventLoopPromise<Void>?, _ error: HTTP2Error?) {
        if let promise { append((promise, error)) }
    }
}
