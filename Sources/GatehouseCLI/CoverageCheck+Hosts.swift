import Foundation
import Gatehouse
import GatehouseTLS

/// Host-name coverage: the SNI selection the listener's real `CertificateStore` would make.
extension CoverageCheck {
    /// The store the listener would build from its usable certificates, or nil when none is usable.
    func makeStore(_ loaded: [LoadedPair], tls: TLSListenerConfiguration) -> CertificateStore? {
        let usable = loaded.compactMap(\.certified)
        guard !usable.isEmpty else { return nil }
        let chosenDefault = loaded.first { $0.pair.certificate == tls.defaultCertificate }?.certified
        // Selection does not depend on the cipher policy or ALPN; the defaults can always be built.
        return try? CertificateStore(certificates: usable, defaultCertificate: chosenDefault, strictSNI: tls.strictSNI)
    }

    /// The table row for `host` on one listener, and (when no certificate covers it) what clients get.
    func coverage(
        of host: String, listener: String, store: CertificateStore?,
        loaded: [LoadedPair]
    ) -> (row: CoverageReport.HostRow, uncoveredDetail: String?) {
        var row = CoverageReport.HostRow(listener: listener, host: host, match: .none, served: [])
        guard let store else { return (row, nil) }
        // ECDSA-capable clients first, then the others; the same certificate is listed once.
        var chosen: [CertifiedKey] = []
        for ecdsa in [true, false] {
            if let selected = store.select(serverName: host, clientOffersECDSA: ecdsa),
                !chosen.contains(where: { $0.leaf === selected.leaf })
            {
                chosen.append(selected)
            }
        }
        row.served = chosen.map { served($0, loaded: loaded) }
        guard let first = chosen.first else {
            // Only strict SNI selects nothing.
            row.match = loaded.contains { $0.certified == nil && $0.leaf?.covers(hostName: host) == true } ? .unusable : .refused
            return (row, row.match == .refused ? "strict_sni refuses the handshake" : nil)
        }
        if first.leaf.covers(hostName: host) {
            row.match =
                Self.exactNames(of: first.leaf).contains(CoverageLocations.normalisedHost(host))
                ? .exact : .wildcard(Self.wildcardName(of: first.leaf, covering: host))
            return (row, nil)
        }
        if loaded.contains(where: { $0.certified == nil && $0.leaf?.covers(hostName: host) == true }) {
            // The certificate meant for this name is broken; that problem is reported on its own.
            row.match = .unusable
            return (row, nil)
        }
        row.match = .defaultOnly
        let names = chosen.map { "'\(fileName($0, loaded: loaded))' (\($0.leaf.subjectLine))" }.joined(separator: " or ")
        return (row, "clients get the default certificate \(names), which does not cover it")
    }

    /// Reports once that `host` is not covered, naming every listener where that is so.
    func reportUncovered(
        _ host: String, service: VirtualServiceConfiguration, serviceIndex: Int, listeners: [String],
        detail: String, state: inout State
    ) {
        let listenerText =
            listeners.count == 1
            ? "listener '\(listeners[0])'" : "listeners " + listeners.map { "'\($0)'" }.joined(separator: ", ")
        let listenerOption = configuration.tlsListeners.count > 1 ? " --listener \(listeners[0])" : ""
        state.report(
            "host:\(host)",
            diagnostic(
                at: locations.host(host, service: serviceIndex),
                "host name '\(host)' of service '\(service.name)' is not covered by any certificate of \(listenerText): \(detail)",
                hint: "add \(host) to the certificate's SANs: gatehouse cert request --config \(displayPath)\(listenerOption), "
                    + "then list the issued certificate under the listener's tls.certificates"))
    }

    /// The table entry for one served certificate.
    private func served(_ certified: CertifiedKey, loaded: [LoadedPair]) -> CoverageReport.Served {
        CoverageReport.Served(
            fileName: fileName(certified, loaded: loaded), keyType: certified.isECDSA ? "ECDSA" : "RSA",
            notAfter: certified.leaf.notAfter,
            status: certified.leaf.status(at: now, warningWindow: Self.warningWindow))
    }

    /// The last path component of the file a loaded certificate came from.
    private func fileName(_ certified: CertifiedKey, loaded: [LoadedPair]) -> String {
        let path = loaded.first { $0.certified?.leaf === certified.leaf }?.pair.certificate ?? "?"
        return (path as NSString).lastPathComponent
    }

    /// The names a certificate is matched by (SAN dNSNames, else the CN), normalised, without wildcards.
    static func exactNames(of certificate: X509Certificate) -> Set<String> {
        let names = certificate.dnsNames.isEmpty ? [certificate.commonName].compactMap { $0 } : certificate.dnsNames
        return Set(names.map(CoverageLocations.normalisedHost).filter { !$0.hasPrefix("*") })
    }

    /// The wildcard name of `certificate` that covers `host` (`*.contoso.com`), as the certificate writes it.
    static func wildcardName(of certificate: X509Certificate, covering host: String) -> String {
        let normalised = CoverageLocations.normalisedHost(host)
        let parent = normalised.firstIndex(of: ".").map { String(normalised[$0...]) } ?? ""
        let names = certificate.dnsNames.isEmpty ? [certificate.commonName].compactMap { $0 } : certificate.dnsNames
        return names.first { CoverageLocations.normalisedHost($0) == "*" + parent } ?? "*" + parent
    }
}
