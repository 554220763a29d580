import GatehouseHTTP1
import Logging
import NIOCore
import NIOHTTP1

/// The proxy for one client connection, protocol-agnostic: it consumes `TaggedRequestPart`s from
/// the HTTP/1.1 adapter or `HTTP2ServerHandler`, runs one `ProxiedRequest` per stream, and writes
/// `TaggedResponsePart`s back. It sits last in the client pipeline and also intercepts `read` so
/// a slow backend can stop the client from sending more (backpressure, HTTP/1.1).
final class ProxyHandler: ChannelDuplexHandler, StreamPartReceiver {
    typealias InboundIn = TaggedRequestPart
    typealias OutboundIn = TaggedResponsePart
    typealias OutboundOut = TaggedResponsePart

    /// The environment at accept time (idle timeout, logs); requests take theirs from `live`.
    let environment: ProxyEnvironment
    /// The current runtime, read once per request so a reload reaches open connections at their
    /// next request; nil (tests) keeps `environment` for every request.
    let live: LiveRuntime?
    let facts: ClientConnectionFacts
    /// The protocol in front, which picks each request's `ClientStream` adapter.
    let clientProtocol: ClientProtocol
    private(set) var context: ChannelHandlerContext?
    /// The protocol handler in front, when linked (`link(to:)`): responses go to it by a direct
    /// call. Nil (unlinked pipelines, tests): the pipeline carries tagged parts.
    private(set) var front: (any StreamFrontHandler)?
    /// The open requests by stream (`ProxyHandler+Deadlines.swift` walks them too).
    var requests: [HTTPStreamID: ProxiedRequest] = [:]
    /// Requests that wrote to their backend during this read batch and need one flush at its end.
    private var backendsToFlush: [ProxiedRequest] = []
    private var readPauses = 0
    private var readPending = false
    private var clientFlushPending = false
    private(set) var isActive = true
    /// The backend connection dedicated to this client connection once it used NTLM/Negotiate:
    /// those schemes authenticate the TCP connection, so it must never serve anyone else.
    var pinned: (connection: BackendConnection, pool: LoopBackendPool, serverIndex: Int)?

    init(
        environment: ProxyEnvironment, facts: ClientConnectionFacts, clientProtocol: ClientProtocol,
        live: LiveRuntime? = nil
    ) {
        self.environment = environment
        self.live = live
        self.facts = facts
        self.clientProtocol = clientProtocol
    }

    /// The connection's one deadline check for its requests (connect, response head, idle, total):
    /// an entry on the loop's `ConnectionClock` (no scheduled task per connection), armed at the
    /// earliest deadline any request asked for and disarmed when the last request finishes, so an
    /// idle keep-alive connection has nothing armed. Made at the first deadline asked for.
    /// The check itself is in `ProxyHandler+Deadlines.swift`.
    var deadlineClock: (clock: ConnectionClock, entry: ConnectionClock.Entry)?
    var deadlineCheckAt = NIODeadline.distantFuture
    /// The environment a new request on this connection uses: the live one, re-read only when a
    /// reload changed it since this connection last looked (`LiveRuntime.generation`).
    var requestEnvironment: ProxyEnvironment {
        guard let live else { return environment }
        let generation = live.generation
        if generation != seenGeneration {
            seenGeneration = generation
            latestEnvironment = live.environment
        }
        return latestEnvironment ?? environment
    }
    /// The position of this connection's event loop in the group (which latency-histogram shard its
    /// requests record into), looked up on the first request; every environment of a process has
    /// the same loops, so a reload does not change it.
    func loopIndex(of loop: EventLoop) -> Int {
        if let knownLoopIndex { return knownLoopIndex }
        let index = environment.loopIndex[ObjectIdentifier(loop)] ?? 0
        knownLoopIndex = index
        return index
    }
    private var knownLoopIndex: Int?
    /// The live environment as of `seenGeneration` (nil until the first request reads it).
    private var latestEnvironment: ProxyEnvironment?
    private var seenGeneration = -1
    /// The client address as the access log shows it (formatted once per connection).
    var clientText: String { facts.clientIPText ?? "-" }
    /// The user this connection authenticated as with NTLM (access log `cs-username`): NTLM
    /// authenticates the connection, so later requests on it, which carry no credentials, are that
    /// user's. Cleared by a 401.
    var authenticatedUser: String?
    /// The address and port the client connected to (access log `s-ip`, `s-port`), read once per
    /// connection and only by formats that show them.
    lazy var serverEndpoint: (ip: String?, port: Int) = {
        let address = context?.channel.localAddress
        return (address?.ipAddress, address?.port ?? 0)
    }()

    /// The connection's idle clock is not here: on HTTP/1.1 `HeaderTimeoutHandler` keeps it with
    /// the header clock (one connection clock, as on the redirect listener), on HTTP/2 the
    /// session does (`HTTP2ServerHandler`, which ends with GOAWAY). This handler keeps only the
    /// requests' deadlines, on one timer.
    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abortAll()
        self.context = nil
        front = nil
    }

    /// Links this proxy and `front`, the protocol handler right in front of it in the pipeline
    /// (`ClientPipeline`): request and response parts pass between them by direct calls.
    func link(to front: any StreamFrontHandler) {
        self.front = front
        front.receiver = self
    }

    // MARK: inbound from the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let tagged = unwrapInboundIn(data)
        receive(tagged.part, stream: tagged.stream)
    }

    /// One request part of `stream`: from `channelRead`, or directly from the linked `front`
    /// (`StreamPartReceiver`). Dropped once this handler has left the pipeline.
    func receive(_ part: HTTPServerRequestPart, stream: HTTPStreamID) {
        guard let eventLoop = context?.eventLoop else { return }
        switch part {
        case .head(let head):
            let request = ProxiedRequest(
                handler: self, stream: stream, head: head, client: clientProtocol.stream(stream, of: self),
                eventLoop: eventLoop)
            requests[stream] = request
            request.start()
        case .body(let buffer):
            requests[stream]?.clientBody(buffer)
        case .end(let trailers):
            requests[stream]?.clientEnd(trailers)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !backendsToFlush.isEmpty {
            // In place, no copy: a copy would make `removeAll(keepingCapacity:)` allocate anew.
            // A request queued again by a flush is flushed in this loop too.
            var index = 0
            while index < backendsToFlush.count {
                let request = backendsToFlush[index]
                index += 1
                request.flushBackend()
            }
            backendsToFlush.removeAll(keepingCapacity: true)
        }
        flushClientIfNeeded()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? StreamEvent {
            switch event {
            case .reset(let stream):
                requests[stream]?.clientAborted()
            case .writabilityChanged(let stream, let isWritable):
                requests[stream]?.clientWritabilityChanged(isWritable)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        abortAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        environment.logger.debug(
            "client connection error",
            metadata: [
                "client": "\(facts.clientIP.map { "\($0)" } ?? "?")", "error": "\(error)"
            ])
        context.close(promise: nil)
    }

    // MARK: outbound towards the client

    func read(context: ChannelHandlerContext) {
        if readPauses > 0 {
            readPending = true
        } else {
            context.read()
        }
    }

    /// A request asks the connection to stop (true) or resume (false) reading from the client.
    func pauseClientReads(_ pause: Bool) {
        readPauses += pause ? 1 : -1
        precondition(readPauses >= 0, "unbalanced client read pause")
        if readPauses == 0, readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// Writes one response part to the client; flushed at the end of the current read batch.
    func writeToClient(_ part: HTTPServerResponsePart, stream: HTTPStreamID, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if let front {
            front.writeResponse(part, stream: stream, promise: promise)
        } else {
            context.write(wrapOutboundOut(TaggedResponsePart(stream: stream, part: part)), promise: promise)
        }
        clientFlushPending = true
    }

    func flushClientIfNeeded() {
        guard clientFlushPending, let context else { return }
        clientFlushPending = false
        context.flush()
    }

    /// Sends a stream command (flow-control credit, reset) to the protocol handler.
    func sendCommand(_ command: StreamCommand) {
        context?.triggerUserOutboundEvent(command, promise: nil)
    }

    /// Flushes `request`'s backend once at the end of this read batch, however many parts it wrote.
    func scheduleBackendFlush(_ request: ProxiedRequest) {
        request.backendWritesPending = true
        guard !request.backendFlushScheduled else { return }
        request.backendFlushScheduled = true
        backendsToFlush.append(request)
    }

    /// Closes the client connection (after a failure that leaves the HTTP/1.1 stream unusable).
    func closeClient() {
        flushClientIfNeeded()
        context?.close(promise: nil)
    }

    private func abortAll() {
        if let deadlineClock { deadlineClock.clock.remove(deadlineClock.entry) }
        deadlineClock = nil
        deadlineCheckAt = .distantFuture
        if let pinned {
            self.pinned = nil
            pinned.connection.close()
        }
        let open = requests.values
        requests.removeAll()
        for request in open { request.clientAborted() }
    }
}
