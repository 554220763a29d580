import CNGHTTP2
import NIOCore
import NIOHTTP1

/// Owns one server-role `nghttp2_session` and everything nghttp2 calls back into.
///
/// Re-entrancy rule (C-LIBRARIES.md, nghttp2 pitfall 1): callbacks only record what happened, into
/// `events`, `pendingConsumes`, `pendingResets` and `completions`; the handler acts on them after
/// `receive` / `produce` returned. Nothing here calls `mem_recv`, `mem_send` or `session_del` from a
/// callback, and no Swift promise is completed from one.
final class HTTP2Session {
    /// What happened during `receive`/`produce`, for the handler to deliver in order.
    enum Event {
        case head(Int32, HTTPRequestHead)
        case body(Int32, ByteBuffer)
        case end(Int32, HTTPHeaders?)
        case reset(Int32)
        case writabilityChanged(Int32, Bool)
        case settingsAcknowledged
    }

    /// The outcome of feeding client bytes to nghttp2.
    enum ReceiveResult: Equatable {
        case ok
        /// nghttp2 refused the bytes (bad preface, flooding, ...): send what is queued, then close.
        case fatal(String)
    }

    /// `nghttp2_session*`, freed in deinit; only this class touches it.
    let session: OpaquePointer
    let settings: HTTP2Settings
    let allocator: ByteBufferAllocator
    var streams: [Int32: HTTP2Stream] = [:]
    /// A header block (HEADERS without END_HEADERS so far, then CONTINUATIONs) is being received.
    /// No other frame may come in between (RFC 9113 §6.10), so the next frame that completes, or
    /// the block's stream closing, ends it. The handler's header clock watches it.
    var headerBlockOpen = false
    var events: [Event] = []
    /// (stream, bytes) to hand to `nghttp2_session_consume` once nghttp2 has returned.
    var pendingConsumes: [(Int32, Int)] = []
    /// (stream, error code) RST_STREAMs decided inside callbacks, submitted once nghttp2 has returned.
    var pendingResets: [(Int32, UInt32)] = []
    /// Streams refused with 431, answered once nghttp2 has returned.
    var pendingTooLarge: [Int32] = []
    /// Write promises to complete once nghttp2 has returned (never from inside a callback).
    var completions: [(EventLoopPromise<Void>, HTTP2Error?)] = []
    /// Streams with a final head waiting to be submitted at the next flush.
    var headsAwaitingSubmit: [Int32] = []
    /// Coalesced frames produced by `mem_send` and `send_data`, handed to the channel per flush.
    var output: ByteBuffer
    /// The buffer `mem_recv` is reading, so DATA payloads can be sliced from it without copying.
    var currentInput: ByteBuffer?
    var currentInputBase: UnsafeRawPointer?
    /// Scratch storage for building `nghttp2_nv` arrays without per-header allocations.
    var headerScratch: [UInt8] = []
    var headerRanges: [(nameStart: Int, nameLength: Int, valueStart: Int, valueLength: Int)] = []
    var nvScratch: [nghttp2_nv] = []

    /// Creates the nghttp2 server session with Gatehouse's limits; throws if nghttp2 cannot.
    init(settings: HTTP2Settings, allocator: ByteBufferAllocator) throws {
        self.settings = settings
        self.allocator = allocator
        self.output = allocator.buffer(capacity: 0)

        var callbacksPointer: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacksPointer) == 0, let callbacks = callbacksPointer else {
            throw HTTP2Error.nghttp2("nghttp2_session_callbacks_new failed")
        }
        // nghttp2 copies the callback table into the session, so it is freed right after.
        defer { nghttp2_session_callbacks_del(callbacks) }
        HTTP2Session.installCallbacks(callbacks)

        var optionPointer: OpaquePointer?
        guard nghttp2_option_new(&optionPointer) == 0, let option = optionPointer else {
            throw HTTP2Error.nghttp2("nghttp2_option_new failed")
        }
        defer { nghttp2_option_del(option) }
        // Manual flow control: the client's window opens only as fast as the backend takes the body.
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_stream_reset_rate_limit(option, UInt64(settings.streamResetBurst), UInt64(settings.streamResetRate))
        nghttp2_option_set_max_continuations(option, settings.maxContinuations)
        nghttp2_option_set_max_settings(option, settings.maxSettingsEntries)
        // Closed streams are never kept for a priority tree (memory per connection stays flat).
        nghttp2_option_set_no_closed_streams(option, 1)

        var sessionPointer: OpaquePointer?
        // The session's user_data is this object, unretained: the session is deleted in our deinit,
        // so nghttp2 can never call back after `self` is gone.
        let rv = nghttp2_session_server_new2(&sessionPointer, callbacks, nil, option)
        guard rv == 0, let created = sessionPointer else {
            throw HTTP2Error.nghttp2(String(cString: nghttp2_strerror(rv)))
        }
        self.session = created
        nghttp2_session_set_user_data(created, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        nghttp2_session_del(session)
    }

    /// Queues our SETTINGS and the connection-window enlargement: the first frames the server sends.
    func start() {
        var entries: [nghttp2_settings_entry] = [
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: UInt32(settings.maxConcurrentStreams)),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(settings.initialStreamWindowSize)),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(settings.maxHeaderListSize)),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            // RFC 9218: no RFC 7540 priority tree, so nghttp2 keeps no closed streams for it and
            // schedules streams by urgency, round robin (fair to long polls and bulk downloads).
            .init(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1)
        ]
        // Return codes: only NOMEM or invalid arguments, which fixed entries cannot be.
        _ = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        if settings.connectionWindowSize > Int(CNGHTTP2_initial_window_size()) {
            _ = nghttp2_session_set_local_window_size(
                session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: settings.connectionWindowSize))
        }
    }

    /// Feeds client bytes to nghttp2. Callbacks queue events; the caller delivers them afterwards.
    func receive(_ buffer: ByteBuffer) -> ReceiveResult {
        let count = buffer.readableBytes
        let rv: Int = buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return 0 }
            // Only during this call may callbacks slice DATA payloads out of `buffer`.
            currentInput = buffer
            currentInputBase = base
            defer {
                currentInput = nil
                currentInputBase = nil
            }
            return nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), count)
        }
        if rv < 0 {
            queueGoawayAfterFatal(Int32(rv))
            return .fatal(String(cString: nghttp2_strerror(Int32(rv))))
        }
        // Without NGHTTP2_ERR_PAUSE nghttp2 consumes everything or fails (pitfall 2).
        assert(rv == count, "nghttp2_session_mem_recv consumed \(rv) of \(count) bytes")
        return .ok
    }

    /// nghttp2 queues no GOAWAY for the errors that make `mem_recv` fail; tell the client why
    /// where a GOAWAY can still help. Not for a bad preface (not an h2 client) or flooding (the
    /// client is not reading our frames anyway).
    private func queueGoawayAfterFatal(_ code: Int32) {
        switch code {
        case NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue, NGHTTP2_ERR_FLOODED.rawValue:
            return
        case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue:
            terminate(errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        case NGHTTP2_ERR_HEADER_COMP.rawValue:
            terminate(errorCode: NGHTTP2_COMPRESSION_ERROR.rawValue)
        default:
            terminate(errorCode: NGHTTP2_PROTOCOL_ERROR.rawValue)
        }
    }

    /// Runs what callbacks deferred: window consumption, RST_STREAMs, 431 responses, pending heads.
    func applyDeferredActions() {
        if !pendingConsumes.isEmpty {
            for (stream, bytes) in pendingConsumes {
                // Consumes at connection level even when the stream is gone (returns 0 then).
                _ = nghttp2_session_consume(session, stream, bytes)
            }
            pendingConsumes.removeAll(keepingCapacity: true)
        }
        if !pendingResets.isEmpty {
            for (stream, code) in pendingResets {
                _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, code)
            }
            pendingResets.removeAll(keepingCapacity: true)
        }
        if !pendingTooLarge.isEmpty {
            for stream in pendingTooLarge { submitTooLarge(stream) }
            pendingTooLarge.removeAll(keepingCapacity: true)
        }
        if !headsAwaitingSubmit.isEmpty {
            for stream in headsAwaitingSubmit {
                if let state = streams[stream], state.pendingHead != nil { submitPendingHead(state) }
            }
            headsAwaitingSubmit.removeAll(keepingCapacity: true)
        }
    }

    /// Serialises frames into `output` until nghttp2 has nothing more or `limit` bytes are ready.
    /// Returns false if nghttp2 failed fatally.
    func produce(limit: Int) -> Bool {
        while output.readableBytes < limit {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 { return false }
            if n == 0 { break }
            // The pointer is valid only until the next nghttp2 call: copy now (pitfall 2).
            output.writeBytes(UnsafeRawBufferPointer(start: data, count: n))
        }
        return true
    }

    /// Takes the frames produced so far, leaving an empty buffer for the next pass.
    func takeOutput() -> ByteBuffer? {
        guard output.readableBytes > 0 else { return nil }
        let out = output
        output = allocator.buffer(capacity: 0)
        return out
    }

    /// nghttp2 wants to read more (false once GOAWAY was exchanged and no stream is active).
    var wantsRead: Bool { nghttp2_session_want_read(session) != 0 }
    /// nghttp2 has frames to send (with data available).
    var wantsWrite: Bool { nghttp2_session_want_write(session) != 0 }

    /// Sends GOAWAY(NO_ERROR) naming the last stream we accepted; open streams finish normally.
    func submitGracefulGoaway() {
        let last = nghttp2_session_get_last_proc_stream_id(session)
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
    }

    /// Sends GOAWAY with `errorCode` and stops the session (nghttp2 then wants neither read nor write).
    func terminate(errorCode: UInt32) {
        _ = nghttp2_session_terminate_session(session, errorCode)
    }

    /// Fails every outstanding write promise and reports incomplete streams as reset: the connection
    /// is gone. Returns the streams the proxy must be told about.
    func closeAll() -> [Int32] {
        var resets: [Int32] = []
        for (id, stream) in streams {
            if stream.deliveredHead && !stream.resetByProxy && !(stream.requestEnded && stream.responseFinished) {
                resets.append(id)
            }
            failOutbound(stream, with: .sessionClosed)
        }
        streams.removeAll()
        return resets.sorted()
    }
}
