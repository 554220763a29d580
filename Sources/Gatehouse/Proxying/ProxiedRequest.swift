import GatehouseCompression
import GatehouseHTTP1
import GatehouseHTTP2
import Logging
import NIOCore
import NIOHTTP1

/// One request/response in flight between a client stream and a backend connection.
///
/// Lives on the client connection's event loop together with its backend connection, so it has no
/// locks. Bodies stream both ways with backpressure; nothing buffers a whole body: while the backend
/// connection is being opened, request body parts wait in a small queue and the client is paused.
final class ProxiedRequest: BackendConnectionDelegate {
    enum State {
        /// Head received; waiting for a backend connection. Body parts queue in `pending`.
        case connecting
        /// Connected: request parts flow to the backend, response parts to the client.
        case forwarding
        /// Finished, or failed and answered; later events are ignored.
        case done
    }

    unowned let handler: ProxyHandler
    let stream: HTTPStreamID
    let clientHead: HTTPRequestHead
    private let isHTTP2: Bool
    private var state: State = .connecting
    private var policy: RoutePolicy?
    private var backendHead: HTTPRequestHead?
    private var loopPool: LoopBackendPool?
    private var serverIndex = 0
    private var connection: BackendConnection?
    /// This request's claim on `serverIndex` in `loopPool`, ended exactly once (release, keepPinned, abandon).
    private var lease: BackendLease?
    /// The backend connection is this client connection's pinned (authenticated) one.
    private var usesPinnedConnection = false
    /// Servers this request was sent to, in order (at most `maxAttempts`).
    private var triedServers: [Int] = []
    /// The anchor mailbox's hash, for routes with `affinity: anchor_mailbox`.
    private var anchor: UInt64?
    /// Request parts received while connecting, and their body bytes.
    private var pending: [HTTPServerRequestPart] = []
    private var pendingBytes = 0
    /// Most body bytes queued while the backend connection is being opened (then reads pause).
    static let pendingLimit = 64 * 1024
    private var clientPausedByUs = false
    private var backendPausedByUs = false

    // Progress, for retry and reuse decisions and the access log.
    private var requestEnded = false
    private var requestBodyBytes: Int64 = 0
    private var requestBodyForwarded = false
    private var responseHeadSent = false
    private var responseStatus: UInt = 0
    private var responseBodyBytes: Int64 = 0
    private var backendKeepAlive = true
    /// Already queued for a backend flush at the end of this read batch.
    var backendFlushScheduled = false
    /// Compresses the response body when the route's policy and the client's Accept-Encoding agree.
    private var deflater: Deflater?
    /// Bytes given to the deflater since its last flush (a sync flush at each read batch's end
    /// makes long-poll chunks reach the client promptly).
    private var deflaterPending = false
    /// This exchange uses (or starts) connection-based authentication: keep the backend
    /// connection for this client connection only.
    private var pinnedConnection = false
    /// A local answer was given while the client is still sending a body we will not forward.
    private var discardingBody = false
    /// How the request body is delimited, as decided at routing: the backend request is framed
    /// by it, and no body byte beyond it is ever forwarded.
    private var framing = RequestBodyFraming.none
    /// The backend's response said where it ends (Content-Length, chunked, or no body by status or
    /// method). A response delimited only by the connection closing leaves nothing to reuse.
    private var responseFramingKnown = true
    private let started = NIODeadline.now()
    /// The request's timeouts (connect, response head, idle, total), set once it is routed.
    private var deadlines: RequestDeadlines?
    /// One scheduled check, at `deadlineCheckAt`, re-armed only when a nearer limit starts.
    private var deadlineTimer: Scheduled<Void>?
    private var deadlineCheckAt = NIODeadline.distantFuture

    init(handler: ProxyHandler, stream: HTTPStreamID, head: HTTPRequestHead) {
        self.handler = handler
        self.eventLoop = handler.context!.eventLoop
        self.environment = handler.environment
        // Formatted only when there is an access log to write it to.
        self.clientText = handler.environment.accessLog == nil ? "" : handler.facts.clientIP.map { "\($0)" } ?? "-"
        self.stream = stream
        self.clientHead = head
        self.isHTTP2 = head.version.major == 2
        // NTLM and Negotiate authenticate the TCP connection: any Authorization line naming one
        // pins the backend connection (HTTP/2 refuses such requests before they get here).
        if !isHTTP2, ConnectionAuthentication.anyConnectionBound(head.headers, name: "authorization") {
            pinnedConnection = true
        }
    }

    /// Captured at creation: backend futures and timers may complete after the client connection
    /// (and its handler) is gone, and must never reach through `handler` then.
    private let eventLoop: EventLoop
    private let environment: ProxyEnvironment
    /// The client address as the access log shows it.
    private let clientText: String

    // MARK: start

    /// Routes the request and starts connecting to a backend (or answers it locally).
    func start() {
        switch environment.router.decide(head: clientHead, connection: handler.facts) {
        case .respond(let local):
            respondLocally(local)
        case .abort(let reason):
            // No response at all: log, then close the HTTP/1.1 connection or reset the h2 stream.
            log(status: 0, reason: reason)
            state = .done
            abortClientStream()
            finish()
        case .forward(let policy, let head, let framing):
            if case .contentLength(let length) = framing, length > policy.maxBodyBytes {
                respondLocally(LocalResponse(status: .payloadTooLarge,
                    reason: "request body of \(length) bytes exceeds the route's limit of \(policy.maxBodyBytes)"))
                return
            }
            self.policy = policy
            self.backendHead = head
            self.framing = framing
            self.loopPool = environment.pools.pool(policy.poolIndex, on: eventLoop)
            deadlines = RequestDeadlines(idle: policy.idleTimeout, connect: policy.connectTimeout,
                                         header: policy.headerTimeout, total: policy.totalTimeout, now: .now())
            // Reads are not paused here: for the common bodiless request that would cost two
            // epoll changes per request. Body bytes that arrive while connecting are queued, and
            // the client is paused once that queue passes `pendingLimit`.
            connect()
        }
    }

    /// Sends the request towards a backend: this client connection's pinned (NTLM/Negotiate)
    /// connection when it has one, else a server chosen by health, drain state, anchor-mailbox
    /// affinity and the pool's balancing. Called a second time to resend a request that could
    /// not be delivered (see `mayResend`).
    private func connect() {
        deadlines?.connecting(at: .now())
        rearmDeadlineCheck()
        if let pinned = handler.pinned, pinned.pool === loopPool {
            handler.pinned = nil
            if !pinned.connection.isClosed && pinned.connection.channel.isActive {
                // Same client connection, same authenticated backend connection (even when its
                // server is drained: a graceful drain lets existing sessions finish).
                serverIndex = pinned.serverIndex
                triedServers.append(pinned.serverIndex)
                pinnedConnection = true
                usesPinnedConnection = true
                lease = pinned.pool.lendPinned(pinned.connection, serverIndex: pinned.serverIndex)
                attach(pinned.connection)
                return
            }
            pinned.connection.close()
        }
        usesPinnedConnection = false
        guard let loopPool, let policy else {
            fail(LocalResponse(status: .serviceUnavailable, reason: "no backend available in the pool"))
            return
        }
        if policy.affinity == .anchorMailbox, triedServers.isEmpty, let backendHead {
            anchor = AnchorMailbox.hash(of: backendHead)
        }
        var choice = loopPool.choose(service: policy.healthService, anchor: anchor, excluding: triedServers,
                                     needsPinnedRoom: pinnedConnection)
        if choice == .noHealthyServer, !triedServers.isEmpty {
            // A resend with no other healthy server left: the same server, on a new connection.
            choice = loopPool.choose(service: policy.healthService, anchor: anchor, excluding: [],
                                     needsPinnedRoom: pinnedConnection)
        }
        let index: Int
        switch choice {
        case .server(let chosen):
            index = chosen
        case .noHealthyServer:
            fail(LocalResponse(status: .serviceUnavailable, headers: ["Retry-After": "5"],
                               reason: "no healthy backend in pool \(loopPool.pool.name) for route \(policy.name)"))
            return
        case .pinnedLimitReached:
            fail(LocalResponse(
                status: .serviceUnavailable, headers: ["Retry-After": "5"],
                body: "503 Service Unavailable: too many NTLM/Negotiate-authenticated connections\n",
                reason: "every healthy backend in pool \(loopPool.pool.name) already has "
                    + "\(loopPool.pool.pinned.limit) pinned NTLM/Negotiate connections (max_pinned_per_server)"))
            return
        }
        serverIndex = index
        triedServers.append(index)
        let lease = loopPool.lease(serverIndex: index)
        let leased = lease.connection!
        self.lease = consume lease
        leased.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let (connection, _)):
                guard case .connecting = state else {
                    // The client went away meanwhile: give the connection back untouched.
                    if let lease = self.lease.take() {
                        loopPool.release(lease, connection: connection, reusable: true)
                    } else {
                        connection.close()
                    }
                    return
                }
                attach(connection)
            case .failure(let error):
                if let lease = self.lease.take() { loopPool.abandon(lease) }
                let server = loopPool.pool.servers[index].name
                let backendError = error as? BackendError ?? .connectFailed(server: server, reason: "\(error)")
                if case .queueTimeout = backendError {
                    // Queued behind max_connecting_per_server connects for queue_timeout: the pool
                    // is overloaded, not the server broken (no ejection, no resend).
                    guard case .connecting = state else { return }
                    environment.logger.warning("backend unavailable", metadata: [
                        "route": "\(policy.name)", "pool": "\(loopPool.pool.name)", "error": "\(backendError)"])
                    fail(LocalResponse(status: backendError.status, headers: ["Retry-After": "5"],
                                       reason: backendError.description))
                    return
                }
                if loopPool.connectFailed(serverIndex: index) {
                    environment.logger.warning("backend suspect: passive ejection after a connect failure", metadata: [
                        "pool": "\(loopPool.pool.name)", "server": "\(server)", "error": "\(backendError)"])
                }
                guard case .connecting = state else { return }
                environment.logger.warning("backend unavailable", metadata: [
                    "route": "\(policy.name)", "error": "\(backendError)"])
                // A connect or TLS failure sent nothing: try another server, once.
                if triedServers.count < ResendRule.maxAttempts {
                    connect()
                } else {
                    fail(LocalResponse(status: backendError.status, reason: backendError.description))
                }
            }
        }
    }

    /// Whether a request whose backend connection failed may be sent again (`ResendRule`).
    private func mayResend(after error: BackendError) -> Bool {
        var responseStarted = responseHeadSent
        if case .protocolError = error { responseStarted = true }   // bytes arrived, unparseable
        return ResendRule.mayResend(ResendRule.Attempt(
            attempts: triedServers.count, responseStarted: responseStarted, bodyForwarded: requestBodyForwarded,
            pinned: usesPinnedConnection, method: clientHead.method))
    }

    private func attach(_ connection: BackendConnection) {
        self.connection = connection
        connection.delegate = self
        if pinnedConnection {
            // This connection now carries (or will carry) a connection-bound identity.
            connection.carriesConnectionAuth = true
        }
        state = .forwarding
        deadlines?.connected(at: .now())
        let channel = connection.channel
        channel.write(HTTPClientRequestPart.head(backendHead!), promise: nil)
        for part in pending { forward(part) }
        pending.removeAll()
        pendingBytes = 0
        channel.flush()
        setClientPaused(!connection.isWritable)
    }

    // MARK: client -> backend

    func clientBody(_ buffer: ByteBuffer) {
        touch()
        requestBodyBytes += Int64(buffer.readableBytes)
        if discardingBody {
            if isHTTP2 { handler.sendCommand(.consumed(stream, bytes: buffer.readableBytes)) }
            return
        }
        if let policy, requestBodyBytes > policy.maxBodyBytes {
            abortRequest(status: .payloadTooLarge,
                         reason: "request body exceeded the route's limit of \(policy.maxBodyBytes) bytes")
            return
        }
        if policy != nil, !framing.allows(bodyBytes: requestBodyBytes) {
            // The client decoders enforce the framing already; this guard makes sure no byte
            // beyond it can ever reach a shared backend connection as the start of a request.
            abortRequest(status: .badRequest, reason: "request body bytes beyond the request's framing (\(framing))")
            return
        }
        switch state {
        case .connecting:
            pending.append(.body(buffer))
            pendingBytes += buffer.readableBytes
            if pendingBytes > ProxiedRequest.pendingLimit { setClientPaused(true) }
        case .forwarding: forward(.body(buffer))
        case .done:
            if isHTTP2 { handler.sendCommand(.consumed(stream, bytes: buffer.readableBytes)) }
        }
    }

    func clientEnd(_ trailers: HTTPHeaders?) {
        touch()
        requestEnded = true
        switch state {
        case .connecting: pending.append(.end(trailers))
        case .forwarding: forward(.end(trailers))
        case .done:
            if discardingBody { finishDiscarding() }
        }
    }

    private func forward(_ part: HTTPServerRequestPart) {
        guard let connection else { return }
        let channel = connection.channel
        switch part {
        case .body(let buffer):
            requestBodyForwarded = true
            if isHTTP2 {
                // HTTP/2 flow control follows the backend: while its connection takes bytes
                // (writable), the client's window reopens at once; once it is full, only when the
                // bytes are written. A stream holds at most its window (64 KiB) beyond the backend
                // connection's write buffer, as an HTTP/1.1 client does with paused reads.
                let count = buffer.readableBytes
                if channel.isWritable {
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
                    handler.sendCommand(.consumed(stream, bytes: count))
                } else {
                    let promise = channel.eventLoop.makePromise(of: Void.self)
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: promise)
                    promise.futureResult.assumeIsolated().whenSuccess { [weak handler, stream] in
                        handler?.sendCommand(.consumed(stream, bytes: count))
                    }
                }
            } else {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
            }
            handler.scheduleBackendFlush(self)
            if !channel.isWritable { setClientPaused(true) }
        case .end(let trailers):
            channel.write(HTTPClientRequestPart.end(trailers), promise: nil)
            handler.scheduleBackendFlush(self)
            if !responseHeadSent {
                deadlines?.requestSent(at: .now())
                rearmDeadlineCheck()
            }
        case .head:
            break
        }
    }

    func flushBackend() {
        backendFlushScheduled = false
        connection?.channel.flush()
    }

    // MARK: backend -> client

    func backendDidReceive(_ part: HTTPClientResponsePart, on connection: BackendConnection) {
        touch()
        switch part {
        case .head(let head):
            if head.status == .switchingProtocols {
                // Gatehouse tunnels no upgraded protocol: what follows on this connection is not
                // HTTP it can frame, so the connection must never serve another request.
                backendProtocolFailure(BackendError.protocolError(
                    server: connection.server.name, reason: "101 Switching Protocols, which Gatehouse does not proxy"))
                return
            }
            if head.status.code < 200 {
                // 100 Continue and friends: relay (Outlook waits for 100 before sending its body).
                handler.writeToClient(.head(HTTPResponseHead(version: clientHead.version, status: head.status)), stream: stream)
                return
            }
            deadlines?.responseHeadReceived(at: .now())
            backendKeepAlive = head.isKeepAlive
            responseStatus = head.status.code
            responseFramingKnown = ProxiedRequest.responseFramingIsKnown(head, requestMethod: clientHead.method)
            if !isHTTP2, head.status == .unauthorized,
               ConnectionAuthentication.anyConnectionBound(head.headers, name: "www-authenticate") {
                // The backend starts a connection-based handshake: the next request of this client
                // connection must reach this very backend connection, and no one else may use it.
                pinnedConnection = true
                connection.carriesConnectionAuth = true
            }
            responseHeadSent = true
            var rewritten = environment.router.clientResponseHead(head, policy: policy!)
            rewritten.version = clientHead.version
            if let compression = policy?.compression {
                startCompression(compression, response: &rewritten)
            }
            handler.writeToClient(.head(rewritten), stream: stream)
        case .body(let buffer):
            responseBodyBytes += Int64(buffer.readableBytes)
            if deflater != nil {
                compress(buffer, flush: .none)
            } else {
                handler.writeToClient(.body(.byteBuffer(buffer)), stream: stream)
            }
        case .end(let trailers):
            if deflater != nil {
                compress(handler.context!.channel.allocator.buffer(capacity: 0), flush: .finish)
                deflater = nil
            }
            responseCompleted(trailers: trailers)
        }
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

    /// Decides (RFC 9110 negotiation, route policy, response type and size) and, when compressing,
    /// edits the response head: Content-Encoding, Vary, no Content-Length, weak ETag.
    private func startCompression(_ policy: GatehouseCompression.CompressionPolicy, response head: inout HTTPResponseHead) {
        let request = CompressionRequestFacts(
            method: clientHead.method.rawValue,
            acceptEncoding: joined(clientHead.headers, "accept-encoding"),
            hasRange: clientHead.headers.contains(name: "range"),
            cacheControl: joined(clientHead.headers, "cache-control"),
            path: clientHead.uri)
        let response = CompressionResponseFacts(
            status: Int(head.status.code),
            contentEncoding: joined(head.headers, "content-encoding"),
            contentType: head.headers.first(name: "content-type"),
            contentLength: head.headers.first(name: "content-length").flatMap(Int.init),
            cacheControl: joined(head.headers, "cache-control"),
            etag: head.headers.first(name: "etag"),
            vary: joined(head.headers, "vary"))
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

    private func joined(_ headers: HTTPHeaders, _ name: String) -> String? {
        let values = headers[name]
        if values.isEmpty { return nil }
        return values.count == 1 ? values[0] : values.joined(separator: ", ")
    }

    /// Compresses one body chunk and writes what zlib produced.
    private func compress(_ buffer: ByteBuffer, flush: Deflater.Flush) {
        guard let deflater else { return }
        var output = handler.context!.channel.allocator.buffer(capacity: flush == .none ? buffer.readableBytes / 2 + 64 : 1024)
        do {
            try deflater.compress(buffer, into: &output, flush: flush)
        } catch {
            environment.logger.error("compression failed", metadata: ["error": "\(error)"])
            abortClientStream()
            return
        }
        deflaterPending = flush == .none
        if output.readableBytes > 0 {
            handler.writeToClient(.body(.byteBuffer(output)), stream: stream)
        }
    }

    func backendReadComplete(on connection: BackendConnection) {
        if deflaterPending {
            // End of what the backend sent for now: push it out so long polls stay live.
            compress(handler.context!.channel.allocator.buffer(capacity: 0), flush: .sync)
        }
        handler.flushClientIfNeeded()
        // The client handler reports stream writability; HTTP/1.1 maps it from channel writability.
        if !clientWritable { setBackendPaused(true) }
    }

    func backendWritabilityChanged(on connection: BackendConnection) {
        setClientPaused(!connection.isWritable)
    }

    private var clientWritable = true

    func clientWritabilityChanged(_ isWritable: Bool) {
        clientWritable = isWritable
        setBackendPaused(!isWritable)
    }

    /// The response is complete. The backend connection is released *before* the end reaches the
    /// client: a pipelined request that the end releases must find this client connection's pinned
    /// (NTLM) connection, or the idle one, already in place.
    private func responseCompleted(trailers: HTTPHeaders?) {
        let reusable = backendKeepAlive && requestEnded && responseFramingKnown
        releaseConnection(reusable: reusable)
        handler.writeToClient(.end(trailers), stream: stream)
        handler.flushClientIfNeeded()
        if !requestEnded {
            // The backend answered before the request body was complete (e.g. 401 or 413): the
            // backend connection cannot carry another request, and on HTTP/1.1 neither can the
            // client's (the rest of its body would be read as a new request).
            if isHTTP2 {
                handler.sendCommand(.reset(stream, errorCode: 0))   // NO_ERROR: stop sending the body
            } else {
                handler.closeClient()
            }
        }
        finish()
    }

    /// The backend sent something Gatehouse cannot carry on (e.g. a protocol switch): the
    /// connection is closed, and the client gets a 502 or, after a response head, an abort.
    private func backendProtocolFailure(_ error: BackendError) {
        environment.logger.warning("backend failed", metadata: [
            "route": "\(policy?.name ?? "?")", "error": "\(error)"])
        dropConnection()
        if responseHeadSent {
            abortClientStream()
            finish()
        } else {
            fail(LocalResponse(status: error.status, reason: error.description))
        }
    }

    func backendDidFail(_ error: Error, on connection: BackendConnection) {
        guard case .forwarding = state else { return }
        let backendError = error as? BackendError ?? .protocolError(server: connection.server.name, reason: "\(error)")
        self.connection = nil
        if let loopPool, let lease = self.lease.take() { loopPool.abandon(lease) }
        if mayResend(after: backendError) {
            environment.logger.info("resending request to another backend", metadata: [
                "route": "\(policy?.name ?? "?")", "error": "\(backendError)"])
            state = .connecting
            // Nothing of the body was forwarded: what the client still sends queues again.
            pending = requestEnded ? [.end(nil)] : []
            setClientPaused(true)
            connect()
            return
        }
        environment.logger.warning("backend failed", metadata: [
            "route": "\(policy?.name ?? "?")", "error": "\(backendError)"])
        if responseHeadSent {
            // Never pass a truncated body off as complete: abort the client stream.
            abortClientStream()
            finish()
        } else {
            fail(LocalResponse(status: backendError.status, reason: backendError.description))
        }
    }

    // MARK: client going away

    func clientAborted() {
        guard state != .done || connection != nil else { return }
        // Mid-exchange: the backend connection is in an unknown state; close it.
        dropConnection()
        finish()
    }

    // MARK: helpers

    private func respondLocally(_ local: LocalResponse) {
        log(status: local.status.code, reason: local.reason)
        var headers = local.headers
        headers.replaceOrAdd(name: "content-length", value: String(local.body.utf8.count))
        if headers["content-type"].isEmpty {
            headers.replaceOrAdd(name: "content-type", value: "text/plain; charset=utf-8")
        }
        // HTTP/1.1: a declared body we will not read makes the connection unusable afterwards.
        // HTTP/2: the stream's remaining DATA is credited and dropped until its END_STREAM.
        let bodyPending = !requestEnded && (isHTTP2 || declaresBody)
        if bodyPending && !isHTTP2 {
            headers.replaceOrAdd(name: "connection", value: "close")
        }
        handler.writeToClient(.head(HTTPResponseHead(version: clientHead.version, status: local.status, headers: headers)), stream: stream)
        if clientHead.method != .HEAD {
            var buffer = handler.context!.channel.allocator.buffer(capacity: local.body.utf8.count)
            buffer.writeString(local.body)
            handler.writeToClient(.body(.byteBuffer(buffer)), stream: stream)
        }
        handler.writeToClient(.end(nil), stream: stream)
        handler.flushClientIfNeeded()
        state = .done
        cancelTimers()
        if bodyPending && isHTTP2 {
            discardingBody = true
            setClientPaused(false)
        } else {
            if bodyPending { handler.closeClient() }
            finishDiscarding()
        }
    }

    /// Whether the request head announces a body (Content-Length above zero, or chunked).
    private var declaresBody: Bool {
        if let length = clientHead.headers.first(name: "content-length"), length != "0" { return true }
        return clientHead.headers.contains(name: "transfer-encoding")
    }

    private func finishDiscarding() {
        discardingBody = false
        setClientPaused(false)
        handler.requestFinished(self)
    }

    private func fail(_ local: LocalResponse) {
        pending.removeAll()
        connection = nil
        respondLocally(local)
    }

    /// Closes the backend connection this request holds, if any, and ends its lease: used when the
    /// exchange is abandoned midway (client gone, limit exceeded, timeout), so it cannot be reused.
    private func dropConnection() {
        guard let connection else { return }
        self.connection = nil
        connection.delegate = nil
        connection.close()
        if let loopPool, let lease = self.lease.take() { loopPool.abandon(lease) }
    }

    /// Abandons the request midway because of what the client sent (a body over the limit or
    /// beyond its framing): the backend connection is closed, and the client gets `status` or,
    /// once a response head went out, an aborted stream.
    private func abortRequest(status: HTTPResponseStatus, reason: String) {
        dropConnection()
        if responseHeadSent {
            environment.logger.warning("request aborted", metadata: ["reason": "\(reason)"])
            abortClientStream()
            finish()
        } else {
            state = .forwarding   // let respondLocally run its body-pending logic
            respondLocally(LocalResponse(status: status, reason: reason))
        }
    }

    private func abortClientStream() {
        if isHTTP2 {
            handler.sendCommand(.reset(stream, errorCode: 2))   // INTERNAL_ERROR
        } else {
            handler.closeClient()
        }
    }

    private func releaseConnection(reusable: Bool) {
        guard let connection, let loopPool else { return }
        self.connection = nil
        guard let lease = self.lease.take() else {
            connection.close()
            return
        }
        if loopPool.responded(serverIndex: serverIndex, service: policy?.healthService, status: responseStatus) {
            environment.logger.warning("backend suspect: passive ejection after a burst of gateway errors", metadata: [
                "pool": "\(loopPool.pool.name)", "server": "\(connection.server.name)",
                "service": "\(policy?.healthService.map { loopPool.pool.healthLabels[$0] } ?? "(server)")"])
        }
        if pinnedConnection && reusable && handler.isActive {
            if loopPool.keepPinned(lease, connection: connection) {
                if let previous = handler.pinned, previous.connection !== connection {
                    // One pinned connection per client connection: an older one (another pool's,
                    // or from a request that overlapped) is closed, which frees its slot.
                    previous.connection.close()
                }
                handler.pinned = (connection, loopPool, serverIndex)
            } else {
                environment.logger.warning("pinned connection limit reached; connection not kept", metadata: [
                    "pool": "\(loopPool.pool.name)", "server": "\(connection.server.name)"])
            }
            return
        }
        loopPool.release(lease, connection: connection, reusable: reusable && !pinnedConnection)
    }

    private func finish() {
        if state != .done {
            log(status: responseStatus, reason: nil)
        }
        state = .done
        cancelTimers()
        setClientPaused(false)
        backendPausedByUs = false
        handler.requestFinished(self)
    }

    private func setClientPaused(_ paused: Bool) {
        guard paused != clientPausedByUs else { return }
        // HTTP/2 streams are paced by flow-control credit, never by pausing the whole connection.
        if isHTTP2 && paused { return }
        clientPausedByUs = paused
        handler.pauseClientReads(paused)
    }

    private func setBackendPaused(_ paused: Bool) {
        guard paused != backendPausedByUs, let connection else { return }
        backendPausedByUs = paused
        connection.setReadPaused(paused)
    }

    private func touch() { deadlines?.activity(at: .now()) }

    /// Schedules the one deadline check earlier when a nearer limit has started (connect, or the
    /// response-head clock shorter than the idle one); otherwise the running check stays.
    private func rearmDeadlineCheck() {
        guard let deadlines, state != .done else { return }
        let next = deadlines.nextDeadline
        guard next < deadlineCheckAt else { return }
        deadlineTimer?.cancel()
        deadlineCheckAt = next
        deadlineTimer = eventLoop.assumeIsolated().scheduleTask(deadline: next) { [weak self] in
            self?.checkDeadlines()
        }
    }

    /// The scheduled check: a limit ran out (504 or abort), or the next one is scheduled. Activity
    /// only moves a timestamp, so a busy request re-arms about once per idle period.
    private func checkDeadlines() {
        deadlineTimer = nil
        deadlineCheckAt = .distantFuture
        guard let deadlines, state != .done else { return }
        if let expiry = deadlines.expired(at: .now()) {
            timedOut(phase: deadlines.describe(expiry))
        } else {
            rearmDeadlineCheck()
        }
    }

    private func timedOut(phase: String) {
        guard state != .done else { return }
        let server = triedServers.isEmpty ? "?" : loopPool.map { $0.pool.servers[serverIndex].name } ?? "?"
        let error = BackendError.timeout(server: server, phase: phase)
        dropConnection()
        environment.logger.warning("request timed out", metadata: ["route": "\(policy?.name ?? "?")", "error": "\(error)"])
        if responseHeadSent {
            abortClientStream()
            finish()
        } else {
            respondLocally(LocalResponse(status: .gatewayTimeout, reason: error.description))
        }
    }

    private func cancelTimers() {
        deadlineTimer?.cancel()
        deadlineTimer = nil
        deadlineCheckAt = .distantFuture
    }

    private func log(status: UInt, reason: String?) {
        guard let access = environment.accessLog else { return }
        access.record(AccessLog.Entry(
            client: clientText, method: clientHead.method.rawValue, uri: clientHead.uri,
            proto: isHTTP2 ? "HTTP/2.0" : "HTTP/1.1", status: status, bytesIn: requestBodyBytes,
            bytesOut: responseBodyBytes, microseconds: (NIODeadline.now() - started).nanoseconds / 1_000,
            route: policy?.name,
            backend: triedServers.isEmpty ? nil : loopPool.map { $0.pool.servers[serverIndex].name },
            reason: reason))
    }
}
