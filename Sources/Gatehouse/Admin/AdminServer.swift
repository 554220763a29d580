import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin endpoint: plain HTTP on a loopback address (`admin.address`), serving the backend
/// state as JSON and taking drain/undrain requests. Control plane; it shares the event loops but
/// nothing of the data path.
final class AdminServer: Sendable {
    let health: HealthRegistry
    let pools: BackendPoolRegistry
    /// The listeners and their certificates of the running configuration (a reload replaces them),
    /// for the state JSON and the status page.
    var listeners: [ListenerSpec] { currentListeners() }
    private let currentListeners: @Sendable () -> [ListenerSpec]
    /// Recent request rates per server, from the request counters.
    let rates = RequestRates()
    /// Served at `GET /metrics`; nil: that path answers 404.
    let metrics: GatehouseMetrics?
    private let group: EventLoopGroup
    private let logger: Logger
    /// Runs `POST /reload` (one reload at a time, shared with SIGHUP).
    let reloads: ReloadQueue?
    /// The connection caps (`max_connections`, `max_redirect_connections`) and what they count now.
    let connectionCaps: [ConnectionCap]

    init(
        health: HealthRegistry, pools: BackendPoolRegistry, listeners: @escaping @Sendable () -> [ListenerSpec],
        group: EventLoopGroup,
        logger: Logger, metrics: GatehouseMetrics? = nil, reloads: ReloadQueue? = nil, connectionCaps: [ConnectionCap] = []
    ) {
        self.connectionCaps = connectionCaps
        self.metrics = metrics
        self.health = health
        self.pools = pools
        self.currentListeners = listeners
        self.group = group
        self.logger = logger
        self.reloads = reloads
    }

    /// Binds `host:port`; returns the channel (closed on shutdown).
    func start(host: String, port: Int) async throws -> Channel {
        let server = self
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(server: server))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: port).get()
        logger.info("admin endpoint listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return channel
    }
}

/// One admin connection: `GET /state` (JSON), `GET /` (the HTML status page for a browser, the
/// JSON for any other client), `GET /metrics` (Prometheus), `POST /pools/<pool>/servers/<server>/drain`
/// and `.../undrain`, `POST /reload`. Answers only loopback peers.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: AdminServer
    private var head: HTTPRequestHead?

    init(server: AdminServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            handle(head, context: context)
        }
    }

    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard Self.isLoopback(context.remoteAddress) else {
            respond(context, head: head, status: .forbidden, json: #"{"error":"the admin endpoint answers loopback clients only"}"#)
            return
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let parts = path.split(separator: "/").map(String.init)
        if parts == ["metrics"] {
            serveMetrics(head, metrics: server.metrics, context: context)
            return
        }
        if parts.isEmpty, head.method == .GET || head.method == .HEAD, StatusPage.isWanted(by: head) {
            StatusPage.respond(context, head: head)
            return
        }
        if parts.isEmpty || parts == ["state"] {
            guard head.method == .GET || head.method == .HEAD else {
                respond(context, head: head, status: .methodNotAllowed, json: #"{"error":"use GET"}"#)
                return
            }
            AdminState.render(server: server).hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let json): self.respond(context, head: head, status: .ok, json: json)
                case .failure(let error):
                    self.respond(
                        context, head: head, status: .internalServerError,
                        json: "{\"error\":\(AdminState.quote("\(error)"))}")
                }
            }
            return
        }
        if parts == ["reload"], let reloads = server.reloads {
            // Re-reads the configuration; 200 when applied, 422 with the errors (as `gatehouse
            // check` prints them) when refused and the running configuration is unchanged.
            guard head.method == .POST else {
                respond(context, head: head, status: .methodNotAllowed, json: #"{"error":"use POST"}"#)
                return
            }
            let outcome = context.eventLoop.makePromise(of: ReloadOutcome.self)
            outcome.completeWithTask { await reloads.reload(trigger: "admin endpoint") }
            outcome.futureResult.assumeIsolated().whenSuccess { outcome in
                self.respond(context, head: head, status: outcome.applied ? .ok : .unprocessableEntity, json: outcome.json)
            }
            return
        }
        if parts.count == 5, parts[0] == "pools", parts[2] == "servers", parts[4] == "drain" || parts[4] == "undrain" {
            guard head.method == .POST else {
                respond(context, head: head, status: .methodNotAllowed, json: #"{"error":"use POST"}"#)
                return
            }
            let draining = parts[4] == "drain"
            if server.health.setDraining(pool: parts[1], server: parts[3], draining) {
                respond(
                    context, head: head, status: .ok,
                    json: "{\"pool\":\(AdminState.quote(parts[1])),"
                        + "\"server\":\(AdminState.quote(parts[3])),\"draining\":\(draining)}")
            } else {
                respond(
                    context, head: head, status: .notFound,
                    json: "{\"error\":\(AdminState.quote("no server \(parts[3]) in pool \(parts[1])"))}")
            }
            return
        }
        respond(
            context, head: head, status: .notFound,
            json: #"{"error":"unknown path; use GET /state or POST /pools/<pool>/servers/<server>/drain|undrain"}"#)
    }

    private func respond(_ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, json: String) {
        var buffer = context.channel.allocator.buffer(capacity: json.utf8.count + 1)
        buffer.writeString(json)
        buffer.writeString("\n")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    private static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
