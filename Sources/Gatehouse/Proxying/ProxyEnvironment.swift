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

    init(
        router: any ProxyRouter, pools: LoopPoolSet, logger: Logger, accessLog: AccessLog?,
        metrics: GatehouseMetrics? = nil
    ) {
        self.metrics = metrics
        self.router = router
        self.pools = pools
        self.logger = logger
        self.accessLog = accessLog
    }
}
