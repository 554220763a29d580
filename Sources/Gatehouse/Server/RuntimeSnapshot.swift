import GatehouseCompression
import GatehouseHTTP2
import GatehouseTLS
import Logging
import NIOCore
import NIOHTTP1

/// Everything the data path needs, built once from a validated configuration: certificate stores
/// per listener, backend pools with their TLS trust, the routing table and route policies.
/// Loading certificates happens here, so every certificate problem is reported before anything
/// listens.
public struct RuntimeSnapshot: Sendable {
    public var listeners: [ListenerSpec]
    public var pools: [BackendPool]
    public var router: ExchangeRouter
    /// Problems worth a warning (expired certificates, loose key file permissions...).
    public var warnings: [String]
    /// The certificates the listeners serve for the hosts of services with Extended Protection,
    /// which the servers behind their NTLM routes must match (`HealthRegistry`).
    public var bindingFronts: [ChannelBindingFront]
    /// What each pool was built from, by name: a reload reuses a pool whose identity is unchanged.
    var poolIdentities: [String: PoolIdentity]

    /// Builds the snapshot; throws a `RuntimeBuildError` listing every problem found.
    /// - Parameter previous: the running snapshot, on reload: its pools are reused where their
    ///   identity (configuration, health paths, trust file contents) is unchanged.
    public init(configuration: GatehouseConfiguration) throws {
        try self.init(configuration: configuration, reusing: nil)
    }

    init(configuration: GatehouseConfiguration, reusing previous: RuntimeSnapshot?) throws {
        var problems: [String] = []
        var warnings: [String] = []

        // Pools, in name order; routes refer to them by index.
        let poolNames = configuration.pools.keys.sorted()
        // Each pool probes the distinct health paths of the routes it serves (sorted, so a
        // route's `healthService` index is stable).
        var healthPaths: [String: [String]] = [:]
        for route in configuration.services.flatMap(\.routes) {
            guard let pool = route.pool, let path = route.healthPath, !route.blocked else { continue }
            if !(healthPaths[pool, default: []].contains(path)) { healthPaths[pool, default: []].append(path) }
        }
        for key in healthPaths.keys { healthPaths[key]?.sort() }
        var pools: [BackendPool] = []
        var identities: [String: PoolIdentity] = [:]
        for name in poolNames {
            let config = configuration.pools[name]!
            let identity = PoolIdentity(configuration: config, healthPaths: healthPaths[name] ?? [])
            identities[name] = identity
            if let previous, previous.poolIdentities[name] == identity,
                let running = previous.pools.first(where: { $0.name == name })
            {
                pools.append(running)
                continue
            }
            do {
                var trusted: [X509Certificate] = []
                for path in config.trust.certificates {
                    trusted.append(contentsOf: try X509Certificate.chain(pemFile: path))
                }
                let trust = BackendTrust(
                    trustedCertificates: trusted, caBundlePath: config.trust.caBundle,
                    pinnedSHA256: config.trust.pinSHA256, useSystemStore: config.trust.systemStore)
                let context = try TLSClientContext(trust: trust)
                let servers = config.servers.map {
                    BackendServer(
                        name: $0.name, host: $0.address.host, port: $0.address.port,
                        tlsName: $0.tlsName, weight: $0.weight, drain: $0.drain)
                }
                pools.append(
                    BackendPool(
                        name: name, servers: servers, tls: context, connectTimeout: TimeAmount(config.connectTimeout),
                        idleTimeout: TimeAmount(config.idleTimeout), maxIdlePerServer: config.maxIdlePerServer,
                        balance: config.balance, health: config.health, healthPaths: healthPaths[name] ?? [],
                        maxPinnedPerServer: config.maxPinnedPerServer, maxConnectingPerServer: config.maxConnectingPerServer,
                        queueTimeout: TimeAmount(config.queueTimeout)))
            } catch {
                problems.append("pool \(name): \(error)")
            }
        }

        // Routes: one policy per route, ids in table order.
        var policies: [RoutePolicy] = []
        var services: [RoutingTable.Service] = []
        for (serviceIndex, service) in configuration.services.enumerated() {
            var routes: [RoutingTable.Route] = []
            for route in service.routes {
                let id = policies.count
                let poolIndex = route.pool.flatMap { poolNames.firstIndex(of: $0) } ?? -1
                let label = route.preset.map { "\($0.rawValue)" } ?? route.prefix
                policies.append(
                    RoutePolicy(
                        poolIndex: poolIndex, name: "\(service.name)/\(label)",
                        idleTimeout: TimeAmount(route.timeouts.idle),
                        connectTimeout: TimeAmount(route.timeouts.connect),
                        headerTimeout: TimeAmount(route.timeouts.header),
                        totalTimeout: route.timeouts.total.map(TimeAmount.init),
                        maxBodyBytes: Int64(route.maxBody),
                        blocked: route.blocked || poolIndex < 0,
                        compression: route.compression.enabled
                            ? GatehouseCompression.CompressionPolicy(
                                enabled: true, level: route.compression.level, minSize: route.compression.minSize,
                                types: route.compression.types)
                            : nil,
                        healthService: route.pool.flatMap { healthPaths[$0] }.flatMap { paths in
                            route.healthPath.flatMap { paths.firstIndex(of: $0) }
                        },
                        affinity: route.affinity))
                policies[id].longPoll = LongPollRule(preset: route.preset)
                policies[id].requiresClientCertificate = route.clientCertificateRequired
                if service.extendedProtection != .off, ChannelBindingFront.routeUsesWindowsAuthentication(route) {
                    policies[id].bindingService = serviceIndex
                }
                routes.append(RoutingTable.Route(prefix: route.prefix, id: id))
            }
            services.append(
                RoutingTable.Service(
                    name: service.name, hosts: service.hosts, routes: routes, redirectRootTo: service.redirectRootTo,
                    denyRules: service.denyRules, adminNetworks: service.adminNetworks))
        }
        var table: RoutingTable?
        do {
            table = try RoutingTable(services: services)
        } catch {
            problems.append("routing: \(error)")
        }

        let unknownHostStatus: HTTPResponseStatus =
            configuration.unknownHostStatus == .notFound ? .notFound : .misdirectedRequest

        // Listeners and their certificate stores.
        var listeners: [ListenerSpec] = []
        var stores: [CertificateStore] = []
        for listener in configuration.listeners {
            switch listener.mode {
            case .redirectToHTTPS(let port):
                // Without a table a routing problem is already recorded and nothing will listen.
                guard let table else { continue }
                let policy = RedirectPolicy(httpsPort: port, table: table, unknownHostStatus: unknownHostStatus)
                listeners.append(
                    ListenerSpec(
                        name: listener.name, host: listener.address.host,
                        port: listener.address.port, kind: .redirect(policy), proxyProtocol: listener.proxyProtocol))
            case .passthrough(let settings):
                do {
                    let plan = try PassthroughPlan(settings, poolIndex: { poolNames.firstIndex(of: $0) })
                    listeners.append(
                        ListenerSpec(
                            name: listener.name, host: listener.address.host, port: listener.address.port,
                            kind: .passthrough(plan), proxyProtocol: listener.proxyProtocol))
                } catch {
                    problems.append("listener \(listener.name): \(error)")
                }
            case .tls(let tls):
                do {
                    var certified: [CertifiedKey] = []
                    var defaultKey: CertifiedKey?
                    for pair in tls.certificates {
                        let (loaded, keyWarnings) = try CertifiedKey.load(certificatePath: pair.certificate, keyPath: pair.key)
                        warnings.append(contentsOf: keyWarnings)
                        let key = Self.stapling(pair.ocsp, to: loaded, listener: listener.name, warnings: &warnings)
                        certified.append(key)
                        if pair.certificate == tls.defaultCertificate { defaultKey = key }
                    }
                    let policy = TLSPolicy(
                        minimumVersion: tls.minVersion == .tls13 ? .tls1_3 : .tls1_2,
                        cipherList: tls.ciphers, cipherSuites: tls.cipherSuites, groups: tls.groups,
                        sessionTickets: tls.sessionTickets, handshakeTimeout: TimeAmount(tls.handshakeTimeout))
                    let offersH2 = tls.alpn.contains("h2")
                    let alpn = tls.alpn
                    let clientCertificates = try tls.clientCertificates.map {
                        try ClientCertificatePolicy.load(mode: $0.mode, caFile: $0.caFile)
                    }
                    let store = try CertificateStore(
                        certificates: certified, defaultCertificate: defaultKey,
                        policy: policy, alpn: alpn, strictSNI: tls.strictSNI, ticketKeys: tls.ticketKeys,
                        clientCertificates: clientCertificates)
                    stores.append(store)
                    listeners.append(
                        ListenerSpec(
                            name: listener.name, host: listener.address.host, port: listener.address.port,
                            kind: .tls(store: store, http2: offersH2 ? configuration.limits.http2Settings : nil),
                            proxyProtocol: listener.proxyProtocol))
                } catch {
                    problems.append("listener \(listener.name): \(error)")
                }
            }
        }

        guard problems.isEmpty, let table else { throw RuntimeBuildError(problems: problems) }
        self.listeners = listeners
        self.pools = pools
        self.router = ExchangeRouter(
            table: table, policies: policies, unknownHostStatus: unknownHostStatus,
            screening: configuration.screening)
        self.warnings = warnings
        self.poolIdentities = identities
        self.bindingFronts = ChannelBindingFront.all(services: configuration.services, stores: stores)
    }
}

/// Problems found while turning a valid configuration into a runtime (certificates that do not
/// load, keys that do not match...), each naming its listener or pool and file.
public struct RuntimeBuildError: Error, CustomStringConvertible {
    public var problems: [String]
    public var description: String { problems.map { "error: \($0)" }.joined(separator: "\n") }
}
