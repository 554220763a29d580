import Foundation
import Gatehouse
import GatehouseTLS

/// Extended Protection: will NTLM/Negotiate logons survive the TLS bridge? A client binds its logon
/// to the `tls-server-end-point` hash of the certificate Gatehouse serves it; the Exchange server
/// compares that with the hash of its own certificate. They agree only when both present the same
/// certificate, so each certificate a listener serves for a service's host name (ECDSA and RSA
/// clients may get different ones) is compared with each backend's certificate.
extension CoverageCheck {
    /// A backend's certificate and where it came from (a trusted file, or a live handshake).
    struct BackendCertificate {
        var certificate: X509Certificate
        var source: String
    }

    /// One front certificate that differs from one backend server's, with what it affects.
    private struct Mismatch {
        var front: CertifiedKey
        var frontFile: String
        var frontKeyFile: String
        var pool: String
        var server: BackendServerConfiguration
        var backend: BackendCertificate
        var hosts: [String] = []
        var keyTypes: [String] = []
    }

    /// Compares certificates for every service whose `extended_protection` is not `off`.
    func checkExtendedProtection(stores: [ListenerStore], state: inout State) {
        var backends: [String: BackendCertificate?] = [:]
        for (serviceIndex, service) in configuration.services.enumerated() where service.extendedProtection != .off {
            let routes = service.routes.filter(ChannelBindingFront.routeUsesWindowsAuthentication)
            let pools = ChannelBindingFront.windowsAuthenticationPools(of: service)
            guard !pools.isEmpty else { continue }
            var mismatches: [Mismatch] = []
            for listener in stores {
                guard let store = listener.store else { continue }
                for host in service.hosts {
                    for front in ChannelBindingFront.served(by: store, host: host) {
                        let keyType = front.isECDSA ? "ECDSA" : "RSA"
                        let pair = listener.loaded.first { $0.certified?.leaf === front.leaf }?.pair
                        let frontFile = pair?.certificate ?? "?"
                        var verdicts: [String] = []
                        for poolName in pools {
                            guard let pool = configuration.pools[poolName] else { continue }
                            for server in pool.servers {
                                let key = "\(poolName)/\(server.name)"
                                if backends[key] == nil {
                                    backends[key] = backendCertificate(pool: pool, server: server, state: &state)
                                }
                                guard let backend = backends[key] ?? nil else {
                                    verdicts.append("\(key) unknown")
                                    continue
                                }
                                let verdict = ChannelBindingVerdict.of(
                                    front: front.leaf.tlsServerEndPointHash, presented: backend.certificate.tlsServerEndPointHash)
                                if verdict == .match {
                                    verdicts.append("\(key) same certificate")
                                    continue
                                }
                                verdicts.append("\(key) DIFFERENT (\(backend.source))")
                                if let index = mismatches.firstIndex(where: {
                                    $0.front.leaf === front.leaf && $0.pool == poolName && $0.server.name == server.name
                                }) {
                                    if !mismatches[index].hosts.contains(host) { mismatches[index].hosts.append(host) }
                                } else {
                                    mismatches.append(
                                        Mismatch(
                                            front: front, frontFile: frontFile, frontKeyFile: pair?.key ?? "KEY", pool: poolName,
                                            server: server, backend: backend,
                                            hosts: [host], keyTypes: [keyType]))
                                }
                            }
                        }
                        state.report.extendedProtectionLines.append(
                            "  service '\(service.name)' (\(service.extendedProtection.rawValue)) \(host) \(keyType) "
                                + "\((frontFile as NSString).lastPathComponent): \(verdicts.joined(separator: ", "))")
                    }
                }
            }
            for mismatch in mismatches {
                report(mismatch, service: service, serviceIndex: serviceIndex, routes: routes, state: &state)
            }
        }
    }

    /// One diagnostic line for a mismatch: an error under `extended_protection: bridged`, else a warning.
    private func report(
        _ mismatch: Mismatch, service: VirtualServiceConfiguration, serviceIndex: Int, routes: [RouteConfiguration],
        state: inout State
    ) {
        let front = mismatch.front.leaf
        let paths = routes.filter { $0.pool == mismatch.pool }.map(\.prefix).joined(separator: " ")
        let frontKey = display(mismatch.frontKeyFile)
        let fix =
            "use the same certificate on both sides: gatehouse cert export --pfx mail.pfx --certificate "
            + "\(display(mismatch.frontFile)) --key \(frontKey), then on \(mismatch.server.name) Import-ExchangeCertificate "
            + "-FileData ([System.IO.File]::ReadAllBytes('mail.pfx')) -Password ... and Enable-ExchangeCertificate "
            + "-Services IIS, and trust it in pools.\(mismatch.pool).trust.certificates; or use TLS pass-through"
            + (service.extendedProtection == .bridged ? "" : "; set extended_protection: off if the servers do not enforce it")
        state.report(
            "ep:\(service.name)|\(front.sha256Fingerprint)|\(mismatch.pool)/\(mismatch.server.name)",
            diagnostic(
                at: locations.serviceKey("extended_protection", service: serviceIndex),
                severity: service.extendedProtection == .bridged ? .error : .warning,
                "Extended Protection mismatch: service '\(service.name)' serves \(mismatch.keyTypes.joined(separator: "/")) "
                    + "certificate '\((mismatch.frontFile as NSString).lastPathComponent)' (\(front.subjectLine), "
                    + "tls-server-end-point \(short(front))) for \(mismatch.hosts.joined(separator: ", ")), but server "
                    + "'\(mismatch.server.name)' of pool '\(mismatch.pool)' presents \(mismatch.backend.source) "
                    + "(\(mismatch.backend.certificate.subjectLine), \(short(mismatch.backend.certificate))): "
                    + "NTLM/Negotiate logons on \(paths) will loop on 401",
                hint: fix))
    }

    /// The backend's certificate: presented over TLS with `--probe`, else the first trusted
    /// certificate covering its TLS name; nil when it cannot be known (reported once).
    private func backendCertificate(
        pool: PoolConfiguration, server: BackendServerConfiguration, state: inout State
    ) -> BackendCertificate? {
        if probe {
            do {
                let certificate = try TLSCertificateProbe.presentedCertificate(
                    host: server.address.host, port: server.address.port, serverName: server.tlsName)
                return BackendCertificate(certificate: certificate, source: "the certificate it presented at \(server.address)")
            } catch {
                state.report(
                    "probe:\(pool.name)/\(server.name)",
                    diagnostic(
                        at: locations.serverTLSName(pool: pool.name, server: server.name), severity: .warning,
                        "--probe: cannot fetch the certificate of server '\(server.name)' of pool '\(pool.name)': \(error)",
                        hint: "start the server, or check without --probe to compare with the trusted certificates"))
                return nil
            }
        }
        for path in pool.trust.certificates {
            guard let chain = state.chains[path] ?? nil else { continue }
            if let leaf = chain.first(where: { $0.covers(hostName: server.tlsName) }) {
                return BackendCertificate(certificate: leaf, source: "trusted certificate '\((path as NSString).lastPathComponent)'")
            }
        }
        return nil
    }

    /// The first 16 hex digits of the channel-binding hash, with its algorithm.
    private func short(_ certificate: X509Certificate) -> String {
        "\(certificate.tlsServerEndPointDigestName) \(certificate.tlsServerEndPointHex.prefix(16))…"
    }
}
