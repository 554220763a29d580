import CNGHTTP2
import GatehouseHTTP1
import NIOCore
import NIOHTTP1

/// Compares a header name received from nghttp2 with an ASCII literal, byte for byte.
@inline(__always)
func bytesEqual(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
    guard bytes.count == literal.utf8CodeUnitCount else { return false }
    let expected = literal.utf8Start
    for i in 0..<bytes.count where bytes[i] != expected[i] { return false }
    return true
}

/// Whether `bytes` are valid UTF-8. nghttp2 lets obs-text (0x80-0xFF) through in values; bytes that
/// are not UTF-8 would turn into U+FFFD in a Swift String, so the backend would see other bytes than
/// the client sent. Such requests are refused instead. All-ASCII input, the common case, is
/// recognised by the first loop alone.
@inline(__always)
func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    for byte in bytes where byte >= 0x80 {
        return String(validating: bytes, as: UTF8.self) != nil
    }
    return true
}

extension HTTP2Session {
    /// A HEADERS frame starts: a new request, or a trailer block on a known stream.
    func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) {
        guard UInt32(frame.pointee.hd.type) == NGHTTP2_HEADERS.rawValue else { return }
        headerBlockOpen = true
        let id = frame.pointee.hd.stream_id
        switch frame.pointee.headers.cat {
        case NGHTTP2_HCAT_REQUEST:
            let stream = HTTP2Stream(id: id)
            // Room for a usual request's fields up front: one allocation instead of regrowth
            // at the 2nd, 3rd, 5th, 9th... field.
            stream.headers.reserveCapacity(16)
            streams[id] = stream
        case NGHTTP2_HCAT_HEADERS:
            // Trailers are a header section of their own for the size limit.
            if let stream = streams[id], stream.rejection == nil {
                stream.trailers = HTTPHeaders()
                stream.headerListSize = 0
            }
        default:
            break
        }
    }

    /// One decoded header field. nghttp2 has already checked pseudo-header order, duplicates,
    /// uppercase names, connection-specific fields and `te`; we add header-list size, NTLM,
    /// Host/:authority agreement and :path shape, and map the request to HTTP/1-style values.
    func header(stream id: Int32, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        guard let stream = streams[id], stream.rejection == nil else { return }
        stream.headerListSize += name.count + value.count + 32
        if stream.headerListSize > settings.maxHeaderListSize {
            reject(stream, .headersTooLarge)
            return
        }
        if !isValidUTF8(value) || !isValidUTF8(name) {
            reject(stream, .malformed)
            return
        }
        if stream.trailers != nil {
            stream.trailers!.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            return
        }
        if name.first == UInt8(ascii: ":") {
            if bytesEqual(name, ":method") {
                stream.method = String(decoding: value, as: UTF8.self)
            } else if bytesEqual(name, ":path") {
                stream.path = String(decoding: value, as: UTF8.self)
            } else if bytesEqual(name, ":authority") {
                stream.authority = String(decoding: value, as: UTF8.self)
            }
            // :scheme (and :protocol, which nghttp2 refuses unless enabled) carry nothing the
            // HTTP/1-shaped head needs.
            return
        }
        if stream.headers.isEmpty, let authority = stream.authority {
            // Pseudo-headers precede regular ones (nghttp2 enforces it), so :authority is known
            // now and `host` can be the first header, as in HTTP/1.1.
            stream.headers.add(name: "host", value: authority)
        }
        if bytesEqual(name, "host") {
            let host = String(decoding: value, as: UTF8.self)
            if stream.hostHeader != nil {
                reject(stream, .malformed)
            } else if let authority = stream.authority {
                // RFC 9113 §8.3.1: a Host that names another origin than :authority is malformed;
                // letting them differ invites routing confusion behind the proxy.
                if authority.lowercased() != host.lowercased() { reject(stream, .malformed) }
                stream.hostHeader = host
            } else {
                stream.hostHeader = host
                stream.headers.add(name: "host", value: host)
            }
        } else if bytesEqual(name, "cookie") {
            // RFC 9113 §8.2.3: crumbs are rejoined with "; " into one field for HTTP/1.1.
            let crumb = String(decoding: value, as: UTF8.self)
            if let existing = stream.cookie { stream.cookie = existing + "; " + crumb } else { stream.cookie = crumb }
        } else if bytesEqual(name, "authorization"), ConnectionAuthentication.isConnectionBound(value) {
            // NTLM and Negotiate authenticate a connection, which HTTP/2 multiplexes: the client
            // must retry over HTTP/1.1 (RFC 9113 8.1.1, HTTP_1_1_REQUIRED). Every Authorization
            // field is looked at, with the same rule the HTTP/1.1 side pins by.
            reject(stream, .http11Required)
        } else {
            stream.headers.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
        }
    }

    /// Marks a request as refused; what is left of its header block is decoded but ignored.
    func reject(_ stream: HTTP2Stream, _ reason: HTTP2Stream.Rejection) {
        stream.rejection = reason
        stream.clearRequestAssembly()
        stream.trailers = nil
    }

    /// A complete frame arrived: finish request heads, report ends of bodies and SETTINGS acks.
    func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) {
        headerBlockOpen = false
        let hd = frame.pointee.hd
        let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            guard let stream = streams[hd.stream_id] else { return }
            if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                finishHead(stream, endStream: endStream)
            } else {
                let trailers = stream.trailers
                stream.trailers = nil
                if stream.rejection != nil {
                    // Oversized trailers after the head went to the proxy: too late for a 431.
                    if stream.deliveredHead { pendingResets.append((stream.id, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)) }
                } else if endStream {
                    endRequest(stream, trailers: trailers)
                }
            }
        case NGHTTP2_DATA.rawValue:
            if endStream, let stream = streams[hd.stream_id] { endRequest(stream, trailers: nil) }
        case NGHTTP2_SETTINGS.rawValue:
            if hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 { events.append(.settingsAcknowledged) }
        default:
            break
        }
    }

    /// Reports the end of a request body to the proxy, if the proxy knows the stream.
    private func endRequest(_ stream: HTTP2Stream, trailers: HTTPHeaders?) {
        guard !stream.requestEnded else { return }
        stream.requestEnded = true
        if stream.deliveredHead && !stream.resetByProxy {
            events.append(.end(stream.id, trailers))
        }
    }

    /// Validates the assembled request and either queues `.head` or the stream's refusal.
    private func finishHead(_ stream: HTTP2Stream, endStream: Bool) {
        if stream.rejection == nil {
            if let method = stream.method, let path = stream.path {
                let pathOK = path.utf8.first == UInt8(ascii: "/") || (path == "*" && method == "OPTIONS")
                if !pathOK { stream.rejection = .malformed }
            } else if stream.method == "CONNECT" {
                // Tunnels are not proxied to Exchange backends; the client may try elsewhere.
                stream.rejection = .refused
            } else {
                stream.rejection = .malformed
            }
        }
        if let rejection = stream.rejection {
            stream.clearRequestAssembly()
            switch rejection {
            case .malformed: pendingResets.append((stream.id, NGHTTP2_PROTOCOL_ERROR.rawValue))
            case .http11Required: pendingResets.append((stream.id, NGHTTP2_HTTP_1_1_REQUIRED.rawValue))
            case .refused: pendingResets.append((stream.id, NGHTTP2_REFUSED_STREAM.rawValue))
            case .headersTooLarge: pendingTooLarge.append(stream.id)
            }
            if endStream { stream.requestEnded = true }
            return
        }
        if stream.headers.isEmpty, let authority = stream.authority {
            stream.headers.add(name: "host", value: authority)
        }
        if let cookie = stream.cookie { stream.headers.add(name: "cookie", value: cookie) }
        if !endStream && !stream.headers.contains(name: "content-length") {
            // A body of unknown length follows (DATA frames without content-length): described as
            // HTTP/1.1 would, so whoever frames the request for a backend knows there is a body.
            // nghttp2 refuses a client's own transfer-encoding, so this one is always ours.
            stream.headers.add(name: "transfer-encoding", value: "chunked")
        }
        let head = HTTPRequestHead(
            version: HTTPVersion(major: 2, minor: 0),
            method: HTTPMethod(rawValue: stream.method!),
            uri: stream.path!,
            headers: stream.headers)
        stream.clearRequestAssembly()
        stream.deliveredHead = true
        events.append(.head(stream.id, head))
        if endStream { endRequest(stream, trailers: nil) }
    }

    /// A piece of request body. Delivered (as a slice of the input, no copy) to the proxy, which
    /// consumes it later; for anything the proxy will never consume the window opens at once.
    func dataReceived(stream id: Int32, data: UnsafePointer<UInt8>?, length: Int) {
        guard length > 0, let data else { return }
        guard let stream = streams[id], stream.deliveredHead, !stream.resetByProxy, !stream.requestEnded else {
            // Refused request, reset stream, or unknown: nobody will consume this (pitfall 3).
            pendingConsumes.append((id, length))
            return
        }
        let chunk: ByteBuffer
        if let input = currentInput, let base = currentInputBase,
            UnsafeRawPointer(data) >= base, UnsafeRawPointer(data) + length <= base + input.readableBytes
        {
            // nghttp2 points into the buffer we gave mem_recv (padding already stripped).
            let offset = UnsafeRawPointer(data) - base
            chunk = input.getSlice(at: input.readerIndex + offset, length: length)!
        } else {
            var copy = allocator.buffer(capacity: length)
            copy.writeBytes(UnsafeRawBufferPointer(start: data, count: length))
            chunk = copy
        }
        stream.unconsumed += length
        events.append(.body(id, chunk))
    }

    /// nghttp2 closed a stream (both sides done, or a reset either way): settle its flow-control
    /// debt, tell the proxy if it was still interested, and fail writes that can no longer go out.
    func streamClosed(_ id: Int32) {
        headerBlockOpen = false  // a stream reset inside its header block; nghttp2 skips the rest
        guard let stream = streams.removeValue(forKey: id) else { return }
        if stream.unconsumed > 0 {
            pendingConsumes.append((id, stream.unconsumed))
            stream.unconsumed = 0
        }
        if stream.deliveredHead && !stream.resetByProxy && !(stream.requestEnded && stream.responseFinished) {
            events.append(.reset(id))
        }
        failOutbound(stream, with: .streamClosed)
    }
}
