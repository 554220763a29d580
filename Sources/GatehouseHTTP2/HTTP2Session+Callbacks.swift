import CNGHTTP2

// The C callbacks: each is a non-capturing @convention(c) function that recovers the session from
// user_data and calls one Swift method. user_data is `Unmanaged.passUnretained(session)`; the
// session deletes the nghttp2_session in deinit, so the reference is always alive when nghttp2 calls.

/// Recovers the Swift owner of an nghttp2 session from its user_data.
@inline(__always)
private func owner(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session {
    Unmanaged<HTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
}

private let callbackFailure = NGHTTP2_ERR_CALLBACK_FAILURE.rawValue

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    guard let frame else { return callbackFailure }
    owner(userData).beginHeaders(frame)
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let frame else { return callbackFailure }
    owner(userData).header(
        stream: frame.pointee.hd.stream_id,
        name: UnsafeBufferPointer(start: name, count: nameLength),
        value: UnsafeBufferPointer(start: value, count: valueLength))
    return 0
}

// nghttp2 reports header fields with characters RFC 9113 forbids here (it would otherwise drop them
// silently). TEMPORAL_CALLBACK_FAILURE from *this* callback makes nghttp2 reset the stream with
// PROTOCOL_ERROR (unlike from on_header, which gives INTERNAL_ERROR): a malformed request.
private let onInvalidHeader: nghttp2_on_invalid_header_callback = { _, _, _, _, _, _, _, _ in
    NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
}

private let onFrameReceived: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame else { return callbackFailure }
    owner(userData).frameReceived(frame)
    return 0
}

private let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    owner(userData).dataReceived(stream: streamID, data: data, length: length)
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, _, userData in
    owner(userData).streamClosed(streamID)
    return 0
}

// With NGHTTP2_DATA_FLAG_NO_COPY nghttp2 hands us the 9-byte DATA frame header and lets us append
// the payload straight from the proxy's buffers: one copy instead of two.
private let onSendData: nghttp2_send_data_callback = { _, frame, frameHeader, length, _, userData in
    guard let frame, let frameHeader else { return callbackFailure }
    // CALLBACK_FAILURE ends the session: nothing else keeps the framing intact.
    return owner(userData).sendData(stream: frame.pointee.hd.stream_id, frameHeader: frameHeader, length: length)
        ? 0 : callbackFailure
}

/// The data provider's read callback shared by every response body (see `HTTP2Session+Outbound`).
let dataSourceRead: nghttp2_data_source_read_callback = { _, streamID, _, length, flags, _, userData in
    guard let flags else { return Int(callbackFailure) }
    return owner(userData).readData(stream: streamID, maxLength: length, flags: flags)
}

extension HTTP2Session {
    /// Registers the Swift-backed callbacks on a callback table.
    static func installCallbacks(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_invalid_header_callback(callbacks, onInvalidHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameReceived)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_send_data_callback(callbacks, onSendData)
    }
}
