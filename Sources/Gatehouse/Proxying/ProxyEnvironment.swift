import Logging
import NIOCore

/// Everything a client connection's proxy needs, shared by all connections of a runtime snapshot:
/// the router, the backend pools on every loop, the logger. Immutable; swapped whole on reload.
final class ProxyEnvironment: Sendable {
    let router: any ProxyRouter
    let pools: BackendPoolRegistry
    let logger: Logger
    /// One access-log line per request on standard output; nil when switched off.
    let accessLog: AccessLog?

    init(router: any ProxyRouter, pools: BackendPoolRegistry, logger: Logger, accessLog: AccessLog?) {
        self.router = router
        self.pools = pools
        self.logger = logger
        self.accessLog = accessLog
    }
}
