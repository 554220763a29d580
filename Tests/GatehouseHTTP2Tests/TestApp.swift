import GatehouseHTTP1
import GatehouseHTTP2
import NIOCore
import NIOHTTP1

/// A tiny origin behind `HTTP2ServerHandler`, playing the proxy's role:
/// - `GET /bytes?n=N`: N pattern bytes in 16 KiB parts, pausing on `writabilityChanged(false)`;
/// - `POST /echo`: consumes the body as it arrives, answers `len=L sum=S`;
/// - `POST /sink`: never consumes, answers at the end; `/early`: answers 413 at once, never consumes;
/// - `/reset`: resets the stream (CANCEL); `/hold`: never answers;
/// - `/headers`: echoes method, uri, version and headers; `/quiesce`: asks the connection to quiesce,
///   then finishes its response 300 ms later; `/continue`: sends 100 Continue first;
///   `OPTIONS *`: answers 200; `/trailers`: a body followed by trailers; `/delay`: answers after 800 ms.
final class TestApp: ChannelDuplexHandler {
    typealias InboundIn = TaggedRequestPart
    typealias OutboundIn = Never
    typealias OutboundOut = TaggedResponsePart

    /// Per-stream progress of a request.
    final class Job {
        var uri: String
        var remaining = 0
        var offset = 0
        var paused = false
        var uploadLength = 0
        var uploadSum: UInt64 = 0
        init(uri: String) { self.uri = uri }
    }

    let recorder: Recorder
    var jobs: [Int32: Job] = [:]
    var pumpScheduled = false

    init(recorder: Recorder) { self.recorder = recorder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let tagged = unwrapInboundIn(data)
        let id = tagged.stream.rawValue
        switch tagged.part {
        case .head(let head):
            recorder.state.withLockedValue {
                // Bounded, so that load runs do not grow memory.
                if $0.uris.count < 10_000 {
                    $0.uris.append(head.uri)
                    $0.heads.append(head)
                }
            }
            let job = Job(uri: head.uri)
            jobs[id] = job
            onHead(context: context, id: id, job: job, head: head)
        case .body(let buffer):
            guard let job = jobs[id] else { return }
            if job.uri.hasPrefix("/echo") {
                job.uploadLength += buffer.readableBytes
                buffer.withUnsafeReadableBytes { bytes in
                    for byte in bytes { job.uploadSum &+= UInt64(byte) }
                }
                context.triggerUserOutboundEvent(StreamCommand.consumed(tagged.stream, bytes: buffer.readableBytes), promise: nil)
            } else if job.uri.hasPrefix("/take") {
                // /take?n=N: a backend that takes the first N bytes of the body, then stalls.
                let n = min(job.remaining, buffer.readableBytes)
                job.remaining -= n
                if n > 0 { context.triggerUserOutboundEvent(StreamCommand.consumed(tagged.stream, bytes: n), promise: nil) }
            }
        case .end(let trailers):
            if let trailers { recorder.state.withLockedValue { $0.trailers.append(trailers) } }
            guard let job = jobs[id] else { return }
            if job.uri.hasPrefix("/echo") {
                respond(context: context, id: id, status: .ok, body: "len=\(job.uploadLength) sum=\(job.uploadSum)")
            } else if job.uri.hasPrefix("/sink") {
                respond(context: context, id: id, status: .ok, body: "sunk")
            }
        }
    }

    private func onHead(context: ChannelHandlerContext, id: Int32, job: Job, head: HTTPRequestHead) {
        let uri = head.uri
        if uri.hasPrefix("/take") {
            job.remaining = Int(uri.split(separator: "=").last ?? "0") ?? 0
        } else if uri.hasPrefix("/bytes") {
            let n = Int(uri.split(separator: "=").last ?? "0") ?? 0
            job.remaining = n
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: String(n))
            headers.add(name: "Connection", value: "keep-alive")  // must be dropped for h2
            write(context: context, id: id, part: .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            pump(context: context)
        } else if uri.hasPrefix("/early") {
            respond(context: context, id: id, status: .payloadTooLarge, body: "")
        } else if uri.hasPrefix("/reset") {
            context.triggerUserOutboundEvent(StreamCommand.reset(HTTPStreamID(id), errorCode: 0x8), promise: nil)
            jobs[id] = nil
        } else if uri.hasPrefix("/headers") {
            var text = "method=\(head.method.rawValue)\nuri=\(head.uri)\nversion=\(head.version.major).\(head.version.minor)\n"
            for (name, value) in head.headers { text += "\(name): \(value)\n" }
            respond(context: context, id: id, status: .ok, body: text)
        } else if uri.hasPrefix("/trailers") {
            write(context: context, id: id, part: .head(HTTPResponseHead(version: .http1_1, status: .ok)))
            var body = context.channel.allocator.buffer(capacity: 4)
            body.writeString("body")
            write(context: context, id: id, part: .body(.byteBuffer(body)))
            write(context: context, id: id, part: .end(["X-Checksum": "abc", "Connection": "close"]))
            context.flush()
        } else if uri.hasPrefix("/delay") {
            // A long poll in miniature: the answer comes after 800 ms.
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(800)) { [self] in
                respond(context: context, id: id, status: .ok, body: "late")
            }
        } else if uri == "*" {
            respond(context: context, id: id, status: .ok, body: "options")
        } else if uri.hasPrefix("/continue") {
            write(context: context, id: id, part: .head(HTTPResponseHead(version: .http1_1, status: .continue)))
            respond(context: context, id: id, status: .ok, body: "continued")
        } else if uri.hasPrefix("/quiesce") {
            write(context: context, id: id, part: .head(HTTPResponseHead(version: .http1_1, status: .ok)))
            context.flush()
            context.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(300)) { [self] in
                var body = context.channel.allocator.buffer(capacity: 8)
                body.writeString("finished")
                write(context: context, id: id, part: .body(.byteBuffer(body)))
                write(context: context, id: id, part: .end(nil))
                context.flush()
            }
        }
    }

    /// Writes one part of every running download per event-loop tick, as a backend connection
    /// delivering data would, and flushes once; a paused stream waits for writability.
    private func pump(context: ChannelHandlerContext) {
        guard !pumpScheduled else { return }
        pumpScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            pumpScheduled = false
            var more = false
            for (id, job) in jobs where job.remaining > 0 && !job.paused {
                let n = min(16384, job.remaining)
                var buffer = context.channel.allocator.buffer(capacity: n)
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { raw in
                    for i in 0..<n { raw[i] = patternByte(job.offset + i) }
                    return n
                }
                job.offset += n
                job.remaining -= n
                write(context: context, id: id, part: .body(.byteBuffer(buffer)))
                if job.remaining == 0 {
                    write(context: context, id: id, part: .end(nil))
                    jobs[id] = nil
                } else {
                    more = true
                }
            }
            context.flush()
            if more { pump(context: context) }
        }
    }

    private func respond(context: ChannelHandlerContext, id: Int32, status: HTTPResponseStatus, body: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Transfer-Encoding", value: "identity")  // must be dropped for h2
        write(context: context, id: id, part: .head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        if !body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            write(context: context, id: id, part: .body(.byteBuffer(buffer)))
        }
        write(context: context, id: id, part: .end(nil))
        context.flush()
        jobs[id] = nil
    }

    private func write(context: ChannelHandlerContext, id: Int32, part: HTTPServerResponsePart) {
        let recorder = self.recorder
        let promise = context.eventLoop.makePromise(of: Void.self)
        recorder.state.withLockedValue { $0.startedWrites += 1 }
        promise.futureResult.whenComplete { result in
            recorder.state.withLockedValue {
                $0.completedWrites += 1
                if case .failure = result { $0.failedWrites += 1 }
            }
        }
        context.write(wrapOutboundOut(TaggedResponsePart(stream: HTTPStreamID(id), part: part)), promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? StreamEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch event {
        case .reset(let stream):
            recorder.state.withLockedValue { _ = $0.resets.insert(stream.rawValue) }
            jobs[stream.rawValue] = nil
        case .writabilityChanged(let stream, let writable):
            if !writable { recorder.state.withLockedValue { _ = $0.pausedStreams.insert(stream.rawValue) } }
            jobs[stream.rawValue]?.paused = !writable
            if writable { pump(context: context) }
        }
    }
}
