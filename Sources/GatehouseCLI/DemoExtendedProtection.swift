import Foundation
import Gatehouse
import GatehouseTLS

/// `gatehouse demo --extended-protection`: the set-up Microsoft supports for TLS bridging with
/// Extended Protection, made from the demo configuration in memory. One certificate (RSA, the
/// kind Exchange's IIS site uses) is served by every TLS listener and presented by every
/// simulated server, which requires Extended Protection; the pools trust exactly that certificate
/// and verify it under the first service host name; the services are marked
/// `extended_protection: bridged`, so the check that runs on every reload guards the set-up.
struct DemoExtendedProtection {
    /// The certificate (and key) shared by the front end and the simulated servers.
    let shared: CertificateKeyPair
    /// The name the pools verify the servers' certificate under (`mail.contoso.lab`).
    let tlsName: String

    /// Picks the shared pair: the first RSA certificate of a TLS listener that covers the first
    /// service's first host name (else the first one that covers it).
    init(configuration: GatehouseConfiguration) throws {
        guard let host = configuration.services.first?.hosts.first else {
            throw DemoError("demo --extended-protection: the configuration has no service host name")
        }
        var candidates: [(pair: CertificateKeyPair, rsa: Bool)] = []
        for listener in configuration.listeners {
            for pair in listener.tls?.certificates ?? [] {
                guard let leaf = try? X509Certificate.chain(pemFile: pair.certificate).first, leaf.covers(hostName: host) else {
                    continue
                }
                let rsa = (try? CertifiedKey(chain: [leaf], key: PrivateKey(pemFile: pair.key)))?.isECDSA == false
                candidates.append((pair, rsa))
            }
        }
        guard let chosen = candidates.first(where: { $0.rsa }) ?? candidates.first else {
            throw DemoError("demo --extended-protection: no listener certificate covers \(host)")
        }
        shared = chosen.pair
        tlsName = host
    }

    /// The configuration with one certificate everywhere and every service `bridged`.
    func apply(to configuration: GatehouseConfiguration) -> GatehouseConfiguration {
        var changed = configuration
        changed.listeners = configuration.listeners.map { listener in
            guard var tls = listener.tls else { return listener }
            tls.certificates = [shared]
            tls.defaultCertificate = shared.certificate
            var copy = listener
            copy.mode = .tls(tls)
            return copy
        }
        for (name, pool) in configuration.pools {
            var copy = pool
            copy.trust.certificates = [shared.certificate]
            copy.servers = pool.servers.map { server in
                var server = server
                server.tlsName = tlsName
                return server
            }
            changed.pools[name] = copy
        }
        changed.services = configuration.services.map { service in
            var copy = service
            copy.extendedProtection = .bridged
            return copy
        }
        return changed
    }
}

/// A demo start-up problem, printed as it is.
struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
