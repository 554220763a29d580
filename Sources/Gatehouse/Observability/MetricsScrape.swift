import NIOCore
import NIOHTTP1

/// `GET /metrics` on the admin listener: sets the state gauges from the pools (connections open,
/// idle, pinned, requests in flight, summed over event loops) and the health registry (up, drain),
/// then emits the registry in the Prometheus text format (swift-prometheus does the formatting).
enum MetricsScrape {
    /// The exposition with the state gauges fresh.
    static func render(
        metrics: GatehouseMetrics, health: HealthRegistry, pools: BackendPoolRegistry, caps: [ConnectionCap] = []
    ) -> EventLoopFuture<String> {
        let poolMetrics = metrics.scrapeState.withLockedValue { $0 }
        // One consistent picture of the pools (a reload may be swapping them), each paired with the
        // handles made for it; a pool a reload is still installing is left to the next scrape.
        let (healthPools, views, _) = health.picture()
        var matched: [(metrics: PoolMetrics, view: PoolHealthView, pool: BackendPool)] = []
        for (index, pool) in healthPools.enumerated() {
            guard let handles = poolMetrics.first(where: { $0.fits(pool) }) else { continue }
            matched.append((handles, views[index], pool))
        }
        let pairs = matched
        let futures = pairs.map { pools.counters(of: $0.pool) }
        let loop = futures.first?.eventLoop ?? pools.anyEventLoop
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { counters in
            for (index, entry) in pairs.enumerated() {
                entry.metrics.update(counters: counters[index], health: entry.view)
            }
            setBindingGauges(metrics: metrics, picture: health.bindingPicture())
            setConnectionGauges(metrics: metrics, caps: caps)
            return metrics.exposition()
        }
    }
}

extension MetricsScrape {
    /// `gatehouse_client_connections_counted{limit}` and `gatehouse_client_connection_limit{limit}`,
    /// read from the caps' counters (nothing on the accept path).
    static func setConnectionGauges(metrics: GatehouseMetrics, caps: [ConnectionCap]) {
        for cap in caps {
            metrics.registry.makeGauge(descriptor: MetricFamilies.connectionsCounted, labels: [("limit", cap.key)])
                .set(to: Double(cap.count))
            metrics.registry.makeGauge(descriptor: MetricFamilies.connectionLimit, labels: [("limit", cap.key)])
                .set(to: Double(cap.limit))
        }
    }

    /// `gatehouse_extended_protection_match{service, pool, server}`: 0 when any front certificate
    /// of the service mismatches the server's presented one, 1 when all match; unknown verdicts
    /// (no handshake yet) set nothing.
    static func setBindingGauges(metrics: GatehouseMetrics, picture: AdminState.BindingPicture) {
        var values: [[String]: Double] = [:]
        for row in picture.rows where row.verdict != .unknown {
            let labels = [
                picture.fronts[row.front].serviceName, picture.pools[row.pool].name,
                picture.pools[row.pool].servers[row.server].name
            ]
            values[labels] = min(values[labels] ?? 1, row.verdict == .match ? 1 : 0)
        }
        for (labels, value) in values {
            metrics.registry.makeGauge(
                descriptor: MetricFamilies.extendedProtectionMatch,
                labels: [("service", labels[0]), ("pool", labels[1]), ("server", labels[2])]
            ).set(to: value)
        }
    }
}

extension AdminHandler {
    /// Answers `GET /metrics` (HEAD too): `text/plain; version=0.0.4`, the format Prometheus scrapes.
    func serveMetrics(_ head: HTTPRequestHead, metrics: GatehouseMetrics?, context: ChannelHandlerContext) {
        guard let metrics else {
            writeText(context, head: head, status: .notFound, text: "metrics are not enabled\n")
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            writeText(context, head: head, status: .methodNotAllowed, text: "use GET\n")
            return
        }
        let admin = server
        MetricsScrape.render(metrics: metrics, health: admin.health, pools: admin.pools, caps: admin.connectionCaps)
            .hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let text): self.writeText(context, head: head, status: .ok, text: text)
                case .failure(let error):
                    self.writeText(context, head: head, status: .internalServerError, text: "\(error)\n")
                }
            }
    }

    private func writeText(
        _ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus,
        text: String
    ) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
