import Yams

/// Validation of `pools:`.
extension ConfigValidator {
    /// All pools by name.
    func validatePools(_ documents: [String: Located<PoolDocument>]?) -> [String: PoolConfiguration] {
        var pools = [String: PoolConfiguration]()
        // Sorted by position so diagnostics come out in file order.
        let ordered = (documents ?? [:]).sorted { ($0.value.mark?.line ?? 0) < ($1.value.mark?.line ?? 0) }
        for (name, document) in ordered {
            if !isIdentifier(name) {
                collector.error(
                    "invalid pool name '\(name)'", at: document.mark, hint: "use letters, digits, '-', '_' and '.'")
            }
            if let pool = validatePool(name: name, document) { pools[name] = pool }
        }
        return pools
    }

    /// One pool: servers, trust, balancing, timeouts and health checks.
    private func validatePool(name: String, _ document: Located<PoolDocument>) -> PoolConfiguration? {
        let value = document.value
        var servers = [BackendServerConfiguration]()
        var serverNames = [String: Mark?]()
        if let documents = required(value.servers, key: "servers", in: document, hint: "list at least one backend server") {
            if documents.isEmpty {
                collector.error("\(document.place) has no servers", at: document.mark, hint: "list at least one backend server")
            }
            for server in documents {
                guard let parsed = validateServer(server) else { continue }
                if let earlier = serverNames[parsed.name] {
                    collector.error(
                        "duplicate server name '\(parsed.name)' in \(document.place) (also used at \(lineText(earlier)))",
                        at: server.value.name?.mark)
                }
                serverNames[parsed.name] = server.value.name?.mark
                servers.append(parsed)
            }
        }
        let trust = required(
            value.trust, key: "trust", in: document,
            hint: "list the backends' self-signed certificates under 'trust: { certificates: [...] }'"
        ).flatMap(validateTrust)
        var pool = PoolConfiguration(name: name, servers: servers, trust: trust ?? BackendTrustConfiguration())
        if let balance = value.balance, let chosen = choice(balance, among: BalancePolicy.allCases.map(\.rawValue)) {
            pool.balance = BalancePolicy(rawValue: chosen) ?? pool.balance
        }
        pool.maxIdlePerServer = integer(value.maxIdlePerServer, in: 0...100_000, default: pool.maxIdlePerServer)
        pool.maxPinnedPerServer = integer(value.maxPinnedPerServer, in: 1...1_000_000, default: pool.maxPinnedPerServer)
        pool.maxConnectingPerServer = integer(
            value.maxConnectingPerServer, in: 1...10_000,
            default: pool.maxConnectingPerServer)
        pool.queueTimeout = duration(value.queueTimeout, default: pool.queueTimeout)
        pool.idleTimeout = duration(value.idleTimeout, default: pool.idleTimeout)
        pool.connectTimeout = duration(value.connectTimeout, default: pool.connectTimeout)
        if let health = value.health {
            pool.health = validateHealth(health)
        }
        guard trust != nil, !servers.isEmpty else { return nil }
        return pool
    }

    /// One backend server: a name, `host:port`, the TLS name checked on its certificate, a weight.
    private func validateServer(_ document: Located<ServerDocument>) -> BackendServerConfiguration? {
        let value = document.value
        let name = required(value.name, key: "name", in: document)
        if let name { checkIdentifier(name) }
        let address = required(value.address, key: "address", in: document, hint: "e.g. address: mbx01.contoso.local:444")
            .flatMap { endpoint($0, requireIP: false, allowPortZero: false) }
        var tlsName: String?
        if let given = value.tlsName {
            if SocketEndpoint.isDNSName(Substring(given.value)) || IPAddress(given.value) != nil {
                tlsName = given.value.lowercased()
            } else {
                collector.error(
                    "invalid TLS name '\(given.value)' for \(given.place)", at: given.mark,
                    hint: "the DNS name in the backend's certificate, e.g. mbx01.contoso.local")
            }
        } else if let address, IPAddress(address.host) != nil, let mark = value.address?.mark {
            collector.warning(
                "\(document.place) has an IP address and no 'tls_name'; its certificate must then name that IP",
                at: mark, hint: "set tls_name to the name in the server's certificate (Exchange uses the server's FQDN)")
        }
        let weight = integer(value.weight, in: 1...1000, default: 1)
        guard let name, let address else { return nil }
        return BackendServerConfiguration(
            name: name.value, address: address, tlsName: tlsName, weight: weight, drain: value.drain ?? false)
    }

    /// A pool's `trust:` block. It must trust something: Gatehouse never talks to an unverified backend.
    private func validateTrust(_ document: Located<TrustDocument>) -> BackendTrustConfiguration? {
        let value = document.value
        var trust = BackendTrustConfiguration()
        var ok = true
        for certificate in value.certificates ?? [] {
            if let path = readableFile(certificate, what: "trusted certificate") {
                trust.certificates.append(path)
            } else {
                ok = false
            }
        }
        if let bundle = value.caBundle {
            trust.caBundle = readableFile(bundle, what: "CA bundle")
            ok = ok && trust.caBundle != nil
        }
        for pin in value.pinSHA256 ?? [] {
            let hex = pin.value.replacingOccurrences(of: ":", with: "").lowercased()
            if hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) {
                trust.pinSHA256.append(hex)
            } else {
                ok = false
                collector.error(
                    "invalid SHA-256 fingerprint '\(pin.value)' for \(pin.place)", at: pin.mark,
                    hint: "64 hex digits (colons allowed), e.g. from 'gatehouse cert show' or "
                        + "'openssl x509 -noout -fingerprint -sha256'")
            }
        }
        trust.systemStore = value.systemStore ?? false
        if ok, trust.certificates.isEmpty, trust.caBundle == nil, trust.pinSHA256.isEmpty, !trust.systemStore {
            collector.error(
                "\(document.place) trusts nothing, so no backend certificate could be verified", at: document.mark,
                hint: "list the backends' certificates under 'certificates', or set 'ca_bundle', 'pin_sha256' "
                    + "or 'system_store: true'")
            return nil
        }
        if trust.systemStore, trust.certificates.isEmpty, trust.caBundle == nil, trust.pinSHA256.isEmpty,
            let mark = document.mark
        {
            collector.warning(
                "\(document.place) trusts only the system CA store", at: mark,
                hint: "Exchange backends use self-signed certificates by default; list them under 'certificates'")
        }
        return ok ? trust : nil
    }

    /// A pool's `health:` block.
    private func validateHealth(_ document: Located<HealthDocument>) -> HealthCheckConfiguration {
        let value = document.value
        var health = HealthCheckConfiguration()
        health.interval = duration(value.interval, default: health.interval)
        health.timeout = duration(value.timeout, default: health.timeout)
        health.rise = integer(value.rise, in: 1...100, default: health.rise)
        health.fall = integer(value.fall, in: 1...100, default: health.fall)
        health.enabled = value.enabled ?? health.enabled
        if health.timeout > health.interval, let mark = value.timeout?.mark ?? document.mark {
            collector.warning(
                "the health-check timeout (\(ConfigDuration.format(health.timeout))) in \(document.place) is longer "
                    + "than its interval (\(ConfigDuration.format(health.interval)))", at: mark,
                hint: "probes would overlap; make the timeout shorter than the interval")
        }
        return health
    }

    /// Warns about pools no route uses (often a misspelt pool name in a route, or a leftover).
    func warnUnusedPools(
        _ documents: [String: Located<PoolDocument>]?, services: [Located<ServiceDocument>]?, listeners: [ListenerConfiguration]
    ) {
        // Read from the documents, so a service with errors elsewhere still counts as using its pools.
        let routes = (services ?? []).flatMap { $0.value.routes ?? [] }
        let usedByHTTP = Set(routes.compactMap { $0.value.pool?.value })
        let usedByPassthrough = Set(listeners.flatMap(\.passthroughPools))
        for (name, document) in (documents ?? [:]).sorted(by: { $0.key < $1.key }) where !usedByHTTP.contains(name) {
            guard usedByPassthrough.contains(name) else {
                collector.warning("pool '\(name)' is not used by any route", at: document.mark)
                continue
            }
            // Active health checks are HTTP probes of the services that route to a pool: a pool
            // only pass-through uses has none, so a `health:` block there would do nothing.
            if let health = document.value.health, health.value.enabled != false {
                collector.error(
                    "pool '\(name)' is used only by pass-through routes, which are never probed: its 'health' block would do nothing",
                    at: health.mark,
                    hint: "remove 'health:' or write 'health: { enabled: false }' (a pass-through server leaves the rotation when "
                        + "connecting to it fails), "
                        + "or also route HTTP requests to this pool so that their health paths are probed")
            }
        }
    }

    /// Warns about a pool whose `queue_timeout` is not shorter than the connect timeout of a route
    /// using it: the route's clock covers the wait in the queue too, so such a request gets the
    /// route's 504 before the pool's 503 and the setting never takes effect for it.
    func warnQueueTimeouts(
        _ documents: [String: Located<PoolDocument>]?, pools: [String: PoolConfiguration],
        services: [VirtualServiceConfiguration]
    ) {
        for (name, document) in (documents ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let pool = pools[name], let key = document.value.queueTimeout, let mark = key.mark else { continue }
            let routes = services.flatMap { service in service.routes.map { (service.name, $0) } }
            guard
                let (service, route) = routes.filter({ $0.1.pool == name })
                    .min(by: { $0.1.timeouts.connect < $1.1.timeouts.connect }),
                route.timeouts.connect <= pool.queueTimeout
            else { continue }
            collector.warning(
                "\(key.place) (\(ConfigDuration.format(pool.queueTimeout))) is not shorter than the connect timeout "
                    + "(\(ConfigDuration.format(route.timeouts.connect))) of route \(route.prefix) of service '\(service)'",
                at: mark,
                hint: "a queued request would get the route's 504 first; make queue_timeout shorter than timeouts.connect")
        }
    }
}
