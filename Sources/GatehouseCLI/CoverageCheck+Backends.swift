import Foundation
import Gatehouse
import GatehouseTLS

/// Backend trust: does a trusted certificate cover each server's `tls_name`, and is it valid?
extension CoverageCheck {
    /// Checks every pool's trusted certificates (readable, valid) and every server's TLS name
    /// against them. A name no explicitly trusted certificate covers is an error unless the pool
    /// also trusts a CA bundle, a CA certificate or the system store (which may vouch for any
    /// name): then it is listed as not checked.
    func checkBackendNames(state: inout State) {
        for poolName in configuration.pools.keys.sorted() {
            guard let pool = configuration.pools[poolName] else { continue }
            var trusted: [(file: String, certificate: X509Certificate)] = []
            for path in pool.trust.certificates {
                let position = locations.trustedCertificate(pool: poolName, absolutePath: path, relativeTo: baseDirectory)
                guard let chain = chain(path, at: position, what: "trusted certificate", state: &state) else { continue }
                for certificate in chain {
                    checkValidity(certificate, file: path, at: position, listener: nil, state: &state)
                    trusted.append((path, certificate))
                }
            }
            // A CA (no server names of its own) or the system store may vouch for any name, so a
            // name none of the explicit certificates covers cannot be called wrong. A self-signed
            // server certificate made with `openssl req -x509` says CA:TRUE too, but it carries SANs.
            var unknowable: String?
            if pool.trust.caBundle != nil {
                unknowable = "trusts a CA bundle"
            } else if trusted.contains(where: { $0.certificate.isCertificateAuthority && $0.certificate.dnsNames.isEmpty }) {
                unknowable = "trusts a CA certificate"
            } else if pool.trust.systemStore {
                unknowable = "trusts the system store"
            } else if trusted.isEmpty {
                unknowable = pool.trust.certificates.isEmpty ? "trusts pinned fingerprints only" : "no readable trusted certificate"
            }
            for server in pool.servers {
                let covering = trusted.filter { $0.certificate.covers(hostName: server.tlsName) }
                var seen = Set<String>()
                let files = covering.map { ($0.file as NSString).lastPathComponent }.filter { seen.insert($0).inserted }
                let notChecked = covering.isEmpty ? unknowable : nil
                state.report.backendRows.append(
                    CoverageReport.BackendRow(
                        pool: poolName, server: server.name, tlsName: server.tlsName, coveredBy: files, notChecked: notChecked))
                guard notChecked == nil, covering.isEmpty else { continue }
                let names = trusted.map { entry in
                    let names =
                        entry.certificate.dnsNames.isEmpty
                        ? [entry.certificate.commonName].compactMap { $0 } : entry.certificate.dnsNames
                    return "\((entry.file as NSString).lastPathComponent): \(names.isEmpty ? "no names" : names.joined(separator: ", "))"
                }
                state.report(
                    "backend:\(poolName)/\(server.name)",
                    diagnostic(
                        at: locations.serverTLSName(pool: poolName, server: server.name),
                        "trusted certificate does not match the backend's TLS name: no certificate trusted by pool "
                            + "'\(poolName)' covers tls_name '\(server.tlsName)' of server '\(server.name)' "
                            + "(trusted: \(names.joined(separator: "; ")))",
                        hint: "set tls_name to a name in the certificate \(server.name) presents, or export that "
                            + "certificate from the backend and list it under pools.\(poolName).trust.certificates"))
            }
        }
    }
}
