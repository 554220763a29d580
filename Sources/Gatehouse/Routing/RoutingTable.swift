/// The immutable host -> virtual service -> route table, built once per configuration snapshot.
///
/// The integrator maps configuration onto `Service` and `Route` values; `Route.id` is whatever index
/// the proxy uses for its pool and policy. Lower-case prefixes are computed here, once, so matching
/// a request compares bytes without allocating.
public struct RoutingTable: Sendable {
    /// One path prefix of a virtual service.
    public struct Route: Sendable, Hashable {
        /// The path prefix, matched case-insensitively against the canonical path.
        ///
        /// `/owa/` (trailing slash) matches `/owa/...` and exactly `/owa`; `/Microsoft-Server-ActiveSync`
        /// (no trailing slash) matches that path and `/Microsoft-Server-ActiveSync/...` but not
        /// `/Microsoft-Server-ActiveSyncX`. `/` matches every path.
        public var prefix: String
        /// The caller's identifier for this route (an index into its pools/policies).
        public var id: Int

        public init(prefix: String, id: Int) {
            self.prefix = prefix
            self.id = id
        }
    }

    /// A virtual service: the host names it answers and its routes and policies.
    public struct Service: Sendable {
        /// The service's name, for logs.
        public var name: String
        /// Exact host names (no wildcards), matched case-insensitively without port or trailing dot.
        public var hosts: [String]
        /// The routes; the longest matching prefix wins (prefixes must differ beyond case and a final `/`).
        public var routes: [Route]
        /// When set, a request for exactly `/` is redirected here (e.g. `/owa/`).
        public var redirectRootTo: String?
        /// The deny rules switched on for this service.
        public var denyRules: DenyRuleSet
        /// The networks allowed to reach admin paths (`/ecp`, `/powershell`).
        public var adminNetworks: [IPNetwork]

        public init(
            name: String, hosts: [String], routes: [Route], redirectRootTo: String? = nil,
            denyRules: DenyRuleSet = .all, adminNetworks: [IPNetwork] = []
        ) {
            self.name = name
            self.hosts = hosts
            self.routes = routes
            self.redirectRootTo = redirectRootTo
            self.denyRules = denyRules
            self.adminNetworks = adminNetworks
        }
    }

    /// A table that cannot be built, with what is wrong and how to fix it.
    public struct BuildError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, naming the service and value.
        public var message: String
        public var description: String { message }
    }

    /// A route prepared for matching: its lower-case prefix bytes and its boundary rule.
    struct CompiledRoute: Sendable {
        /// The prefix in lower case, without a trailing `/`; empty for the catch-all `/`.
        var stem: [UInt8]
        /// The caller's route id.
        var id: Int
    }

    /// A service prepared for matching: routes sorted longest first.
    struct CompiledService: Sendable {
        var routes: [CompiledRoute]
        var redirectRootTo: String?
    }

    /// The services as given, in order (indices are what `service(forHost:)` returns).
    public let services: [Service]
    let compiled: [CompiledService]
    let hostIndex: [String: Int]

    /// Builds the table. Throws when a host appears twice (in one service or across services), a
    /// host is not a valid host name, or a prefix does not start with `/` or is not canonical.
    public init(services: [Service]) throws(BuildError) {
        var hostIndex = [String: Int]()
        var compiled = [CompiledService]()
        compiled.reserveCapacity(services.count)
        for (serviceIndex, service) in services.enumerated() {
            for host in service.hosts {
                guard let key = HostName.normalise(host) else {
                    throw BuildError(message: "service '\(service.name)': '\(host)' is not a valid host name")
                }
                if let other = hostIndex[key] {
                    throw BuildError(
                        message: "host '\(key)' is listed by service '\(services[other].name)' and again by "
                            + "'\(service.name)'; each host name may belong to one service only")
                }
                hostIndex[key] = serviceIndex
            }
            var routes = [CompiledRoute]()
            for route in service.routes {
                let compiledRoute = try Self.compile(route, service: service.name)
                if routes.contains(where: { $0.stem == compiledRoute.stem }) {
                    throw BuildError(
                        message: "service '\(service.name)': route prefix '\(route.prefix)' repeats an earlier "
                            + "prefix (matching ignores case and a trailing '/'); remove one of them")
                }
                routes.append(compiledRoute)
            }
            // Longest stem first; a stable sort keeps configuration order among equal lengths.
            let ordered = routes.enumerated().sorted { lhs, rhs in
                lhs.element.stem.count != rhs.element.stem.count
                    ? lhs.element.stem.count > rhs.element.stem.count
                    : lhs.offset < rhs.offset
            }.map(\.element)
            compiled.append(CompiledService(routes: ordered, redirectRootTo: service.redirectRootTo))
        }
        self.services = services
        self.compiled = compiled
        self.hostIndex = hostIndex
    }

    /// Checks a configured prefix and precomputes its lower-case stem.
    private static func compile(_ route: Route, service: String) throws(BuildError) -> CompiledRoute {
        let bytes = Array(route.prefix.utf8)
        guard bytes.first == UInt8(ascii: "/") else {
            throw BuildError(message: "service '\(service)': route prefix '\(route.prefix)' must start with '/'")
        }
        // A prefix must be what a canonical path can look like, or it could never match.
        let canonical = try? CanonicalTarget(requestTarget: route.prefix, method: .GET, host: nil)
        guard let canonical, canonical.query == nil, canonical.path == route.prefix else {
            throw BuildError(
                message: "service '\(service)': route prefix '\(route.prefix)' is not a canonical path "
                    + "(no '%', '?', '\\\\', '//', '.' or '..' segments)")
        }
        // `/owa/` and `/owa` match the same paths (`/owa` and `/owa/...`), so both compile to `/owa`.
        let stem = (bytes.last == UInt8(ascii: "/") ? bytes.dropLast() : bytes[...]).map(ASCII.lower)
        return CompiledRoute(stem: stem, id: route.id)
    }
}
