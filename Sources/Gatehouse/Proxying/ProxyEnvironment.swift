import Logging
import NIOCore

/// Everything a client connection's proxy needs, shared by all connections of a runtime snapshot:
/// the router, the backend pools on every loop, the logger. Immutable; swapped whole on reload.
final class ProxyEnvironment: Sendable {
    let router: any ProxyRouter
    /// The pools of this snapshot on every loop (route policies index into it).
    let pools: LoopPoolSet
    let logger: Logger
    /// One access-log line per request, in the configured format and place; nil when switched off.
    let accessLog: AccessLog?
    /// Prometheus metrics; nil when off. Requests update their route's handles (`RoutePolicy.metrics`);
    /// this is for those answered before a route was chosen.
    let metrics: GatehouseMetrics?
    /// Each event loop's position in the group (0, 1, ...): which latency-histogram shard a
    /// request finished on that loop records into. Empty: everything records into shard 0.
    let loopIndex: [ObjectIdentifier: Int]

    init(
        router: any ProxyRouter, pools: LoopPoolSet, logger: Logger, accessLog: AccessLog?,
        metrics: GatehouseMetrics? = nil, loops: EventLoopGroup? = nil
    ) {
        self.metrics = metrics
        var index: [ObjectIdentifier: Int] = [:]
        if let loops {
            for loop in loops.makeIterator() {
                index[ObjectIdentifier(loop)] = index.count
            }
        }
        self.loopIndex = index
        self.router = router
        self.pools = pools
        self.logger = logger
        self.accessLog = accessLog
    }
}
