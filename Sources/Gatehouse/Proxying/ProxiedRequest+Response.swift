import GatehouseCompression
import GatehouseHTTP1
import NIOCore
import NIOHTTP1

// MARK: - backend -> client

extension ProxiedRequest {
    /// A response part from the backend: the machine decides, and the part is relayed here,
    /// where it is at hand.
    func backendDidReceive(_ part: HTTPClientResponsePart, on connection: BackendConnection) {
        let now = eventLoop.now
        switch part {
        case .head(let head):
            let facts = StateMachine.ResponseHeadFacts(
                status: head.status.code, keepAlive: head.isKeepAlive,
                framingKnown: Self.responseFramingIsKnown(head, requestMethod: clientHead.method),
                challengesConnection: head.status == .unauthorized
                    && ConnectionAuthentication.anyConnectionBound(head.headers, name: "www-authenticate"))
            switch machine.backendHead(facts, now: now) {
            case .relayInformational:
                client.write(.head(HTTPResponseHead(version: clientHead.version, status: head.status)))
            case .relayHead(let bindConnection):
                if bindConnection { connection.carriesConnectionAuth = true }
                relayHead(head)
            case let action:
                perform(action)
            }
        case .body(let buffer):
            switch machine.backendBody(bytes: buffer.readableBytes, now: now) {
            case .relayBody:
                if deflater != nil {
                    compress(buffer, flush: .none)
                } else {
                    client.write(.body(.byteBuffer(buffer)))
                }
            case let action:
                perform(action)
            }
        case .end(let trailers):
            switch machine.backendEnd(now: now) {
            case .completeResponse(let release, let abortClient):
                if deflater != nil {
                    compress(ByteBuffer(), flush: .finish)
                    deflater = nil
                }
                // Released before the end reaches the client (see `releaseConnection`).
                releaseConnection(release)
                client.write(.end(trailers))
                client.flush()
                // An answer before the request's end (401, 413 ...): the client must stop sending.
                if abortClient { client.abort(.stopSending) }
                finish(log: true)
            case let action:
                perform(action)
            }
        }
    }

    /// Rewrites the final response head for the client, starts compression when the route and
    /// the client agree, and writes it.
    private func relayHead(_ head: HTTPResponseHead) {
        guard let policy else { return }
        var rewritten = environment.router.clientResponseHead(head, policy: policy)
        // Only when different: writing it copies the head's shared storage.
        if rewritten.version != clientHead.version { rewritten.version = clientHead.version }
        if let compression = policy.compression {
            startCompression(compression, response: &rewritten)
        }
        client.write(.head(rewritten))
    }

    /// Whether a response head says where its body ends: no body (HEAD, 204, 304), exactly one
    /// Content-Length, or chunked as the only coding. Anything else is read until the backend
    /// closes, and such a connection is never reused.
    static func responseFramingIsKnown(_ head: HTTPResponseHead, requestMethod: HTTPMethod) -> Bool {
        if requestMethod == .HEAD || head.status == .noContent || head.status == .notModified { return true }
        var lengths = 0
        var codings = 0
        var chunked = false
        for (name, value) in head.headers {
            if ASCII.nameEquals(name, "content-length") {
                lengths += 1
            } else if ASCII.nameEquals(name, "transfer-encoding") {
                codings += 1
                chunked = ASCII.equalsIgnoringCase(ASCII.trimmingOWS(value.utf8), chunkedToken)
            }
        }
        if codings > 0 { return codings == 1 && chunked && lengths == 0 }
        return lengths == 1
    }

    private static let chunkedToken = Array("chunked".utf8)
}

// MARK: - compression

extension ProxiedRequest {
    /// Decides (RFC 9110 negotiation, route policy, response type and size) and, when compressing,
    /// edits the response head: Content-Encoding, Vary, no Content-Length, weak ETag.
    private func startCompression(_ policy: GatehouseCompression.CompressionPolicy, response head: inout HTTPResponseHead) {
        // The usual small answer, decided without collecting the other facts: every check of
        // `decide` before the size one skips with no header edits, and so does a declared length
        // under the minimum.
        guard policy.enabled else { return }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length == 0 || length < policy.minSize {
            return
        }
        let request = CompressionRequestFacts(
            method: clientHead.method.rawValue,
            acceptEncoding: Self.joined(clientHead.headers, "accept-encoding"),
            hasRange: clientHead.headers.contains(name: "range"),
            cacheControl: Self.joined(clientHead.headers, "cache-control"),
            path: clientHead.uri)
        let response = CompressionResponseFacts(
            status: Int(head.status.code),
            contentEncoding: Self.joined(head.headers, "content-encoding"),
            contentType: head.headers.first(name: "content-type"),
            contentLength: head.headers.first(name: "content-length").flatMap(Int.init),
            cacheControl: Self.joined(head.headers, "cache-control"),
            etag: head.headers.first(name: "etag"),
            vary: Self.joined(head.headers, "vary"))
        let decision = policy.decide(request: request, response: response)
        decision.headerEdits.apply(
            set: { name, value in head.headers.replaceOrAdd(name: name, value: value) },
            remove: { name in head.headers.remove(name: name) })
        guard let coding = decision.coding else { return }
        do {
            deflater = try Deflater(coding: coding, level: decision.level)
        } catch {
            // Cannot happen with a validated level; send the body as it is rather than fail.
            environment.logger.error("compression unavailable", metadata: ["error": "\(error)"])
            head.headers.remove(name: "content-encoding")
        }
    }

    private static func joined(_ headers: HTTPHeaders, _ name: String) -> String? {
        let values = headers[name]
        if values.isEmpty { return nil }
        return values.count == 1 ? values[0] : values.joined(separator: ", ")
    }

    /// Compresses one body chunk and writes what zlib produced. A sync flush at each read batch's
    /// end makes long-poll chunks reach the client promptly.
    func compress(_ buffer: ByteBuffer, flush: Deflater.Flush) {
        guard let deflater else { return }
        var output = ByteBufferAllocator().buffer(capacity: flush == .none ? buffer.readableBytes / 2 + 64 : 1024)
        do {
            try deflater.compress(buffer, into: &output, flush: flush)
        } catch {
            environment.logger.error("compression failed", metadata: ["error": "\(error)"])
            client.abort(.failed)
            perform(machine.clientAborted())
            return
        }
        deflaterPending = flush == .none
        if output.readableBytes > 0 {
            client.write(.body(.byteBuffer(output)))
        }
    }
}
