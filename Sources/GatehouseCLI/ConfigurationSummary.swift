import Foundation
import Gatehouse

/// The human-readable summary `gatehouse check` prints: listeners, names, certificate coverage,
/// routes, pools, warnings.
struct ConfigurationSummary {
    let configuration: GatehouseConfiguration
    /// The configuration path as the user typed it.
    let displayPath: String
    let warnings: [ConfigDiagnostic]
    /// Which certificate serves each name, and the certificate problems; nil when not checked.
    var coverage: CoverageReport? = nil
    /// The moment certificate validity was judged at.
    var now = Date()

    /// The whole summary, one item per line.
    var text: String {
        let warningCount = warnings.count + (coverage?.warnings.count ?? 0)
        let errorCount = coverage?.errors.count ?? 0
        let counts = "\(warningCount) warning\(warningCount == 1 ? "" : "s")"
        let status = errorCount == 0 ? "OK (\(counts))" : "\(errorCount) error\(errorCount == 1 ? "" : "s"), \(counts)"
        var lines = ["\(displayPath): \(status)", ""]
        lines.append("listeners:")
        let nameWidth = configuration.listeners.map(\.name.count).max() ?? 0
        for listener in configuration.listeners {
            lines.append("  \(pad(listener.name, nameWidth))  \(pad(listener.address.description, 22))  \(describe(listener))")
        }
        lines.append("")
        lines.append("names:")
        let hostWidth = configuration.services.flatMap(\.hosts).map(\.count).max() ?? 0
        for service in configuration.services {
            for host in service.hosts {
                lines.append("  \(pad(host, hostWidth))  -> service '\(service.name)'")
            }
        }
        lines.append("  \(pad("(other names)", hostWidth))  -> \(configuration.unknownHostStatus.rawValue)")
        lines.append("")
        if let coverage {
            lines += coverage.lines(now: now)
            lines.append("")
        }
        lines.append("routes:")
        for service in configuration.services {
            lines.append("  service '\(service.name)'" + (service.redirectRootTo.map { " (/ redirects to \($0))" } ?? ""))
            let prefixWidth = service.routes.map(\.prefix.count).max() ?? 0
            for route in service.routes {
                lines.append("    \(pad(route.prefix, prefixWidth))  \(describe(route))")
            }
            let networks = service.adminNetworks.map(\.description).joined(separator: ", ")
            lines.append("    admin networks: \(networks.isEmpty ? "none" : networks)")
            lines.append("    deny rules: \(service.denyRules.rules.map(\.rawValue).joined(separator: ", "))")
        }
        lines.append("")
        lines.append("screening packs (after the built-in deny rules):")
        if let screening = configuration.screening {
            for pack in screening.packs {
                let rules = "\(pack.rules.count) rule\(pack.rules.count == 1 ? "" : "s")"
                lines.append("  \(pack.name) \(pack.version ?? "(no version)"): \(rules)  \(pack.path)")
            }
        } else {
            lines.append("  none")
        }
        lines.append("")
        lines.append("pools:")
        for pool in configuration.pools.values.sorted(by: { $0.name < $1.name }) {
            lines.append(
                "  \(pool.name): \(pool.balance.rawValue), connect \(format(pool.connectTimeout)), "
                    + "health every \(format(pool.health.interval)) (rise \(pool.health.rise), fall \(pool.health.fall)), "
                    + "trust \(describe(pool.trust))")
            for server in pool.servers {
                lines.append("    \(server.name)  \(server.address)  tls name \(server.tlsName)  weight \(server.weight)")
            }
        }
        if let admin = configuration.admin {
            lines.append("")
            lines.append("admin: http://\(admin.address)")
        }
        lines.append("access log: \(configuration.accessLog.format.rawValue) to \(configuration.accessLog.path ?? "standard output")")
        return lines.joined(separator: "\n")
    }

    private func describe(_ listener: ListenerConfiguration) -> String {
        guard let proxy = listener.proxyProtocol else { return describeMode(listener) }
        let sources = proxy.trustedSources.map(\.description).joined(separator: ",")
        return "PROXY protocol from \(sources)\(proxy.required ? " (required)" : ""), " + describeMode(listener)
    }

    private func describeMode(_ listener: ListenerConfiguration) -> String {
        switch listener.mode {
        case .redirectToHTTPS(let port):
            return "plain HTTP, redirects to HTTPS port \(port)"
        case .tls(let tls):
            let defaultName = tls.defaultCertificate.split(separator: "/").last.map(String.init) ?? tls.defaultCertificate
            var text =
                "TLS \(tls.minVersion.rawValue)+, ALPN \(tls.alpn.joined(separator: ",")), "
                + "\(tls.certificates.count) certificate\(tls.certificates.count == 1 ? "" : "s") (default \(defaultName))"
            if tls.strictSNI { text += ", strict SNI" }
            if let client = tls.clientCertificates {
                let caName = client.caFile.split(separator: "/").last.map(String.init) ?? client.caFile
                text += ", client certificates \(client.mode.rawValue) (CAs from \(caName))"
            }
            return text
        case .passthrough(let settings):
            let routes = settings.routes.map {
                "\($0.hosts.joined(separator: ",")) -> \($0.pool)\($0.sendProxyProtocol ? " (PROXY v2)" : "")"
            }
            let fallback =
                settings.defaultRoute.map { "otherwise -> \($0.pool)\($0.sendProxyProtocol ? " (PROXY v2)" : "")" }
                ?? "otherwise closed"
            return "TLS pass-through by SNI: " + (routes + [fallback]).joined(separator: "; ")
        }
    }

    private func describe(_ route: RouteConfiguration) -> String {
        let preset = route.preset.map { "[\($0.rawValue)] " } ?? ""
        if route.blocked { return "\(preset)blocked (403)" }
        var parts = ["\(preset)-> \(route.pool ?? "-")"]
        parts.append("idle \(format(route.timeouts.idle))")
        parts.append("body \(ByteSize.format(route.maxBody))")
        parts.append(route.compression.enabled ? "gzip" : "no gzip")
        if !route.http2 { parts.append("HTTP/1.1 only") }
        if route.affinity != .none { parts.append("affinity \(route.affinity.rawValue)") }
        if route.adminOnly { parts.append("admin networks only") }
        if route.clientCertificateRequired { parts.append("client certificate required") }
        if let health = route.healthPath { parts.append("health \(health)") }
        return parts.joined(separator: "  ")
    }

    private func describe(_ trust: BackendTrustConfiguration) -> String {
        var parts = [String]()
        if !trust.certificates.isEmpty { parts.append("\(trust.certificates.count) certificate(s)") }
        if trust.caBundle != nil { parts.append("CA bundle") }
        if !trust.pinSHA256.isEmpty { parts.append("\(trust.pinSHA256.count) pin(s)") }
        if trust.systemStore { parts.append("system store") }
        return parts.joined(separator: " + ")
    }

    private func format(_ duration: Duration) -> String { ConfigDuration.format(duration) }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
