import GatehouseTLS
import Logging
import NIOCore
import NIOPosix

/// The start of a pass-through connection: buffers the client's first bytes until the ClientHello's
/// SNI can be read (bounded by the plan's size cap and ClientHello timeout), chooses a pool by the
/// plan and a server by the pool's balancing, health, drain state and connection limit, connects
/// over plain TCP, sends an optional PROXY v2 header and the buffered bytes, then hands the
/// connection to a pair of `SpliceHandler`s and leaves the pipeline. No TLS is terminated: the
/// client talks to the backend's own certificate.
final class PassthroughHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private enum State {
        case readingHello
        case connecting
        case done
    }

    private let plan: PassthroughPlan
    private let pools: LoopPoolSet
    private let client: ConnectionClientAddress
    private let record: PassthroughRecord
    private let logger: Logger
    private var state = State.readingHello
    private var buffered: ByteBuffer?
    private var helloTimer: Scheduled<Void>?

    init(
        plan: PassthroughPlan, pools: LoopPoolSet, client: ConnectionClientAddress, record: PassthroughRecord,
        logger: Logger
    ) {
        self.logger = logger
        self.plan = plan
        self.pools = pools
        self.client = client
        self.record = record
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let record = self.record
        context.channel.closeFuture.assumeIsolated().whenComplete { _ in record.write() }
        helloTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(plan.clientHelloTimeout)) { [self] in
            guard case .readingHello = state else { return }
            finish(context: context, outcome: "hello_timeout")
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        helloTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard case .readingHello = state else {
            // Bytes that came before the read was held back (already asked for): keep them.
            buffered?.writeBuffer(&bytes)
            return
        }
        if buffered == nil { buffered = bytes } else { buffered!.writeBuffer(&bytes) }
        let result = buffered!.withUnsafeReadableBytes { ClientHelloPeek.read($0, maximumBytes: plan.maximumHelloBytes) }
        if case .needMore = result { return }
        helloTimer?.cancel()
        if case .serverName(let name) = result { record.serverName = name }
        switch plan.decide(result) {
        case .close(let reason):
            finish(context: context, outcome: "closed: \(reason)")
        case .forward(let target, _):
            state = .connecting
            record.pool = target.poolName
            connect(context: context, target: target, tried: [])
        }
    }

    /// No reading while the backend connects: the client's bytes wait in its socket (bounded by the
    /// kernel), not here. `splice` asks for a read once both halves are in place.
    func read(context: ChannelHandlerContext) {
        if case .connecting = state { return }
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        record.end(state == .done ? "ok" : "client closed before forwarding")
        state = .done
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(context: context, outcome: "error: \(error)")
    }

    /// The client ended its output (half-close) before its ClientHello was whole: none will
    /// complete, so the connection ends now rather than at the ClientHello timeout.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, state == .readingHello {
            finish(context: context, outcome: "client ended its output before a whole ClientHello")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: connecting

    private func connect(context: ChannelHandlerContext, target: PassthroughPlan.Target, tried: [Int]) {
        let pool = pools.pool(target.poolIndex, on: context.eventLoop)
        guard case .server(let index) = pool.choose(service: nil, anchor: nil, excluding: tried, needsPinnedRoom: true)
        else {
            finish(context: context, outcome: tried.isEmpty ? "no_server" : "connect_failed")
            return
        }
        let budget = pool.pool.pinned
        guard budget.tryAcquire(index) else {
            // Another loop took the last slot since `choose` looked: try the others.
            connect(context: context, target: target, tried: tried + [index])
            return
        }
        let server = pool.pool.servers[index]
        record.server = server.name
        let backendSplice = SpliceHandler(side: .backend, record: record)
        let clientSplice = SpliceHandler(side: .client, record: record)
        SpliceHandler.pair(clientSplice, backendSplice)
        // The backend channel lives on this connection's loop, so the splice halves never lock.
        let boundSplice = NIOLoopBound(backendSplice, eventLoop: context.eventLoop)
        let connecting = ClientBootstrap(group: context.eventLoop)
            .connectTimeout(pool.pool.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(boundSplice.value)
                }
            }
            .connect(host: server.host, port: server.port)
        connecting.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .failure(let error):
                budget.release(index)
                pool.connectFailed(serverIndex: index)
                record.server = nil
                logger.debug("passthrough connect failed", metadata: ["server": "\(server.name)", "error": "\(error)"])
                guard context.channel.isActive else { return }
                connect(context: context, target: target, tried: tried + [index])
            case .success(let backend):
                backend.closeFuture.whenComplete { _ in budget.release(index) }
                guard context.channel.isActive else {
                    backend.close(promise: nil)
                    return
                }
                splice(context: context, backend: backend, clientSplice: clientSplice, target: target)
            }
        }
    }

    /// The backend is connected: send what the client sent so far, then let both sides flow.
    private func splice(
        context: ChannelHandlerContext, backend: Channel, clientSplice: SpliceHandler, target: PassthroughPlan.Target
    ) {
        state = .done
        if target.sendProxyProtocol {
            let header = ProxyProtocolEncoder.v2(
                source: client.address.map { .init(address: $0, port: client.port ?? 0) },
                destination: context.channel.localAddress.flatMap { address in
                    IPAddress(address).map { .init(address: $0, port: address.port ?? 0) }
                })
            backend.write(ByteBuffer(bytes: header), promise: nil)
        }
        if let buffered {
            record.bytesFromClient += Int64(buffered.readableBytes)
            backend.write(buffered, promise: nil)
            self.buffered = nil
        }
        backend.flush()
        do {
            try context.pipeline.syncOperations.addHandler(clientSplice, position: .after(self))
        } catch {
            finish(context: context, outcome: "error: \(error)")
            backend.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        // Reading was held back while connecting; ask again (autoRead keeps it going from here).
        context.channel.read()
    }

    private func finish(context: ChannelHandlerContext, outcome: String) {
        record.end(outcome)
        state = .done
        context.close(promise: nil)
    }
}
