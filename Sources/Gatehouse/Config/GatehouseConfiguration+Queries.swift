/// Questions the proxy and the health checker ask of a configuration.
extension GatehouseConfiguration {
    /// The distinct health-check paths of the routes served by `pool`, in route order. The health
    /// checker probes each on every server of the pool, so a dead EWS on one server takes that
    /// server out of the EWS routes only.
    public func healthPaths(forPool pool: String) -> [String] {
        var paths = [String]()
        for service in services {
            for route in service.routes where route.pool == pool && !route.blocked {
                if let path = route.healthPath, !paths.contains(path) { paths.append(path) }
            }
        }
        return paths
    }

    /// The listeners that terminate TLS.
    public var tlsListeners: [ListenerConfiguration] { listeners.filter { $0.tls != nil } }
}
