/// What routing decided for a request.
public enum RouteDecision: Sendable, Hashable {
    /// Forward along the route with this id.
    case route(id: Int)
    /// Answer with a redirect to this location (the service's `redirectRootTo`, for `/`).
    case redirect(location: String)
    /// No route of the service matches (the proxy answers 404).
    case notFound
}

extension RoutingTable {
    /// The index of the service answering `host` (a Host header or `:authority`: case, port and a
    /// trailing dot are ignored; `[::1]:8443` is the IPv6 literal `[::1]`), or nil when no service
    /// does or the host is malformed (the caller decides between 421 and 404).
    public func service(forHost host: String) -> Int? {
        guard let key = HostName.normalise(host) else { return nil }
        return hostIndex[key]
    }

    /// The route for a canonical target within a service: redirect for exactly `/` when the
    /// service has `redirectRootTo`, else the longest matching prefix, else `.notFound`.
    /// The asterisk form (`OPTIONS *`) matches no route: the proxy answers it itself.
    public func match(serviceIndex: Int, target: CanonicalTarget) -> RouteDecision {
        let service = compiled[serviceIndex]
        guard target.form != .asterisk else { return .notFound }
        if let location = service.redirectRootTo, target.path == "/" {
            return .redirect(location: location)
        }
        var path = target.lowercasedPath
        return path.withUTF8 { bytes in
            for route in service.routes where Self.matches(route, bytes) {
                return .route(id: route.id)
            }
            return .notFound
        }
    }

    /// Whether a lower-case canonical path falls under a compiled route.
    @inline(__always)
    static func matches(_ route: CompiledRoute, _ path: UnsafeBufferPointer<UInt8>) -> Bool {
        let stem = route.stem
        if stem.isEmpty { return true }  // `/` matches everything
        guard path.count >= stem.count else { return false }
        for index in 0..<stem.count where path[index] != stem[index] { return false }
        if path.count == stem.count { return true }  // `/owa` for `/owa/`, `/rpc` for `/rpc`
        // Only a whole segment counts: `/Microsoft-Server-ActiveSyncX` is not ActiveSync.
        return path[stem.count] == UInt8(ascii: "/")
    }
}
