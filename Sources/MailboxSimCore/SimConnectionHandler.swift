import Foundation
import GatehouseHTTP1
import GatehouseTLS
import NIOCore
import NIOHTTP1

/// One TCP connection of the simulator: reads request parts, asks the router for a plan, carries
/// it out, and keeps the per-connection facts (connection id, NTLM identity).
///
/// Requests are answered one at a time, in order. While a response is in progress the handler
/// stops asking for reads (backpressure) and queues any pipelined parts the decoder had already
/// produced, replaying them when the response ends.
final class SimConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The request being read or answered.
    struct InFlight {
        var head: HTTPRequestHead
        var plan: SimPlan
        var keepAlive: Bool
        /// Headers every response part of this request carries (X-BEServer, X-Sim-Connection, ...).
        var responseHeaders: [(String, String)]
        var bodyBytes: UInt64 = 0
        var hasher: SHA256Hasher?
        /// True once the request's end has arrived and the response is being produced.
        var responding = false
        var isHead: Bool { head.method == .HEAD }
    }

    let router: SimRouter
    /// This connection's id: the `X-Sim-Connection` value.
    let connectionID: Int
    var auth = NTLMConnectionAuth()
    var current: InFlight?
    /// Request parts that arrived while a response was in progress.
    var queued: [HTTPServerRequestPart] = []
    /// A read the channel asked for while a response was in progress.
    var readPending = false
    /// Set when the connection must close once the current response is complete.
    var closeAfterResponse = false
    var isClosed = false
    /// The pending ActiveSync hold or NotificationWait tick.
    var timer: Scheduled<Void>?
    /// The deterministic-bytes response being streamed, if any.
    var stream: ByteStreamState?

    var configuration: SimConfiguration { router.configuration }
    var state: SimState { router.state }

    /// Creates the handler for a freshly accepted connection and gives it the next connection id.
    init(router: SimRouter) {
        self.router = router
        connectionID = router.state.connectionOpened()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closed()
    }

    /// Stops timers and streams and counts the connection as closed (once).
    private func closed() {
        guard !isClosed else { return }
        isClosed = true
        timer?.cancel()
        timer = nil
        stream = nil
        state.connectionClosed()
    }

    func read(context: ChannelHandlerContext) {
        // No new bytes while a response is in progress: a client that pipelines waits in TCP.
        if current?.responding == true {
            readPending = true
            return
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if current?.responding == true || !queued.isEmpty {
            queued.append(part)
            return
        }
        handle(part, context: context)
    }

    /// Processes one request part when no earlier response is in progress.
    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            begin(head, context: context)
        case .body(let buffer):
            guard current != nil else { return }
            current!.bodyBytes += UInt64(buffer.readableBytes)
            current!.hasher?.update(buffer)
        case .end:
            guard current != nil else { return }
            current!.responding = true
            respond(context: context)
        }
    }

    /// A new request head: authentication, then the router's plan, then `100 Continue` if asked for.
    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        state.requestStarted()
        var plan: SimPlan?
        var finalAuthenticate: String?
        if let authorization = head.headers.first(name: "Authorization") {
            switch auth.process(
                authorization: authorization, configuration: configuration,
                now: Date().timeIntervalSince1970,
                extendedProtection: configuration.extendedProtection.mode(forTarget: head.uri))
            {
            case .ignored:
                break
            case .challenge(let value):
                plan = .respond(
                    SimResponse(
                        .unauthorized, contentType: "text/plain; charset=utf-8",
                        text: "401 Unauthorized: NTLM challenge\n",
                        headers: [("WWW-Authenticate", value)]))
            case .authenticated(_, let final):
                state.connectionAuthenticated()
                finalAuthenticate = final
            case .rejected(let reason):
                // IIS answers a refused logon with a fresh challenge list and logs why (event 4625).
                logRejection(reason, head: head)
                plan = .respond(.unauthorized(reason))
            case .malformed(let reason):
                plan = .respond(.error(.badRequest, reason))
            }
        }
        let decided = plan ?? router.plan(for: head, user: auth.user)
        var headers: [(String, String)] = [
            ("Server", "Microsoft-IIS/10.0"),
            ("X-BEServer", configuration.name),
            ("X-Sim-Connection", String(connectionID))
        ]
        if let user = auth.user { headers.append(("X-Sim-User", user)) }
        if let finalAuthenticate { headers.append(("WWW-Authenticate", finalAuthenticate)) }
        headers.append(("X-Powered-By", "ASP.NET"))
        let keepAlive = head.isKeepAlive && !closeAfterResponse
        if !keepAlive {
            headers.append(("Connection", "close"))
        } else if head.version == .http1_0 {
            headers.append(("Connection", "keep-alive"))
        }
        var hasher: SHA256Hasher?
        if case .hashBody = decided { hasher = SHA256Hasher() }
        current = InFlight(head: head, plan: decided, keepAlive: keepAlive, responseHeaders: headers, hasher: hasher)

        if head.version == .http1_1,
            head.headers["Expect"].contains(where: { $0.lowercased() == "100-continue" })
        {
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                promise: nil)
        }
    }

    /// One line on standard error per refused logon, naming the server, connection and request.
    /// The target is escaped so a client cannot forge a line.
    private func logRejection(_ reason: String, head: HTTPRequestHead) {
        let target = head.uri.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined()
        let line = "mailbox-sim \(configuration.name): 401 \(head.method.rawValue) \(target) (connection \(connectionID)): \(reason)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parseError = error as? HTTP1DecoderError else {
            // Resets and TLS failures: nothing useful to say to the client.
            context.close(promise: nil)
            return
        }
        if current?.responding == true {
            // A response is under way; let it finish, then close.
            closeAfterResponse = true
            return
        }
        current = nil
        var response = SimResponse.error(parseError.status, parseError.message)
        response.headers += [
            ("Server", "Microsoft-IIS/10.0"), ("X-BEServer", configuration.name),
            ("X-Sim-Connection", String(connectionID)), ("Connection", "close")
        ]
        response.headers.append(("Content-Length", String(response.body.count)))
        var head = HTTPResponseHead(version: .http1_1, status: response.status)
        for (name, value) in response.headers { head.headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Sends the final part of the current response and moves on to the next request, or closes.
    func finishResponse(context: ChannelHandlerContext, trailer: ByteBuffer? = nil) {
        guard let finished = current else { return }
        current = nil
        stream = nil
        timer = nil
        if let trailer { context.write(wrapOutboundOut(.body(.byteBuffer(trailer))), promise: nil) }
        if !finished.keepAlive || closeAfterResponse {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        // Replay what arrived meanwhile, until a replayed request starts a new response.
        while current?.responding != true, !queued.isEmpty, !isClosed {
            handle(queued.removeFirst(), context: context)
        }
        if current?.responding != true, readPending {
            readPending = false
            context.read()
        }
    }

}
