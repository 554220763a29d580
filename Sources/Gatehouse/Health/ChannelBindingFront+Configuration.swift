import GatehouseTLS

/// Which certificates Extended Protection compares, from the configuration and the listeners'
/// certificate stores. `gatehouse check` (against the trusted certificates) and the runtime
/// (against what the servers present) use these same functions, so they always agree.
extension ChannelBindingFront {
    /// Whether a route carries NTLM/Negotiate: its preset says so; a route without a preset may
    /// carry anything, so it counts.
    public static func routeUsesWindowsAuthentication(_ route: RouteConfiguration) -> Bool {
        !route.blocked && route.pool != nil && (route.preset?.usesWindowsAuthentication ?? true)
    }

    /// The pools behind `service`'s NTLM/Negotiate routes, in route order, each once.
    public static func windowsAuthenticationPools(of service: VirtualServiceConfiguration) -> [String] {
        service.routes.filter(routeUsesWindowsAuthentication).compactMap(\.pool)
            .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }

    /// The certificates `store` serves for `host`: an ECDSA-capable client's pick, then an
    /// RSA-only client's, each distinct certificate once.
    public static func served(by store: CertificateStore, host: String) -> [CertifiedKey] {
        var seen: [CertifiedKey] = []
        for ecdsa in [true, false] {
            guard let key = store.select(serverName: host, clientOffersECDSA: ecdsa),
                !seen.contains(where: { $0.leaf === key.leaf })
            else { continue }
            seen.append(key)
        }
        return seen
    }

    /// Every front certificate of every service whose `extended_protection` is not `off` and that
    /// has NTLM/Negotiate routes, over all `stores` (the TLS listeners), each once.
    public static func all(services: [VirtualServiceConfiguration], stores: [CertificateStore]) -> [ChannelBindingFront] {
        var fronts: [ChannelBindingFront] = []
        for (index, service) in services.enumerated() where service.extendedProtection != .off {
            let pools = windowsAuthenticationPools(of: service)
            guard !pools.isEmpty else { continue }
            for store in stores {
                for host in service.hosts {
                    for key in served(by: store, host: host) {
                        let front = ChannelBindingFront(
                            service: index, serviceName: service.name, setting: service.extendedProtection, host: host,
                            keyType: key.isECDSA ? "ECDSA" : "RSA", certificate: PresentedCertificate(key.leaf), pools: pools)
                        if !fronts.contains(front) { fronts.append(front) }
                    }
                }
            }
        }
        return fronts
    }
}
