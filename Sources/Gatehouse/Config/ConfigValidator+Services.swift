import Yams

/// Validation of `services:` and their routes.
extension ConfigValidator {
    /// All virtual services; names unique, each host name in one service only.
    func validateServices(
        _ documents: [Located<ServiceDocument>]?, poolNames: Set<String>, rootMark: Mark?
    ) -> [VirtualServiceConfiguration] {
        guard let documents, !documents.isEmpty else {
            collector.error(
                "no services are configured", at: rootMark,
                hint: "add 'services:' with host names and routes, e.g. routes: [{ preset: owa, pool: mailbox }]")
            return []
        }
        var services = [VirtualServiceConfiguration]()
        var names = [String: Mark?]()
        var hostOwners = [String: (service: String, mark: Mark?)]()
        for document in documents {
            let serviceName = document.value.name?.value ?? ""
            if let name = document.value.name {
                if let earlier = names[name.value] {
                    collector.error(
                        "duplicate service name '\(name.value)' (also used at \(lineText(earlier)))", at: name.mark,
                        hint: "give each service its own name")
                }
                names[name.value] = name.mark
            }
            // Host names are checked across services here, where both positions are known.
            for host in document.value.hosts ?? [] {
                let key = Self.hostKey(host.value)
                if let owner = hostOwners[key] {
                    let who = owner.service == serviceName ? "this service" : "service '\(owner.service)'"
                    collector.error(
                        "duplicate host name '\(host.value)' in \(document.place): already listed by \(who) "
                            + "at \(lineText(owner.mark))", at: host.mark,
                        hint: "each host name belongs to exactly one service; remove one of them")
                } else {
                    hostOwners[key] = (serviceName, host.mark)
                }
            }
            if let service = validateService(document, poolNames: poolNames) { services.append(service) }
        }
        return services
    }

    /// One virtual service.
    private func validateService(_ document: Located<ServiceDocument>, poolNames: Set<String>)
        -> VirtualServiceConfiguration?
    {
        let value = document.value
        let name = required(value.name, key: "name", in: document)
        if let name { checkIdentifier(name) }
        var hosts = [String]()
        if let hostDocuments = required(
            value.hosts, key: "hosts", in: document, hint: "e.g. hosts: [mail.contoso.com, autodiscover.contoso.com]")
        {
            if hostDocuments.isEmpty {
                collector.error("\(document.place) lists no host names", at: document.mark)
            }
            for host in hostDocuments {
                if let normalised = validateHost(host), !hosts.contains(normalised) { hosts.append(normalised) }
            }
        }
        var redirectRoot: String?
        if let target = value.redirectRootTo {
            if target.value.hasPrefix("/"), !target.value.hasPrefix("//"), !target.value.contains(where: { $0.isWhitespace }) {
                redirectRoot = target.value
            } else {
                collector.error(
                    "\(target.place) must be a path on the same host, such as /owa/, not '\(target.value)'",
                    at: target.mark)
            }
        }
        var adminNetworks = VirtualServiceConfiguration.defaultAdminNetworks
        if let networks = value.adminNetworks {
            adminNetworks = []
            for network in networks {
                do {
                    adminNetworks.append(try IPNetwork(network.value))
                } catch {
                    collector.error(
                        "\(error.reason) for \(network.place) ('\(network.value)')", at: network.mark,
                        hint: "write a CIDR network such as 10.0.0.0/8 or 2001:db8::/32")
                }
            }
        }
        var denyRules = DenyRuleSet.all
        for (ruleName, enabled) in value.denyRules?.value.settings ?? [:] {
            guard let rule = DenyRule(rawValue: ruleName) else { continue }
            if enabled { denyRules.insert(rule) } else { denyRules.remove(rule) }
        }
        if let rules = value.denyRules, !denyRules.contains(.autodiscoverPowershell) || !denyRules.contains(.proxyshellAutodiscover) {
            collector.warning(
                "\(rules.place) switches off a ProxyShell protection", at: rules.mark,
                hint: "only do this behind another filter that blocks these request shapes")
        }
        var extendedProtection = ExtendedProtectionSetting.warn
        if let setting = value.extendedProtection {
            if let chosen = choice(setting, among: ExtendedProtectionSetting.allCases.map(\.rawValue) + ["none"]) {
                extendedProtection = chosen == "none" ? .off : ExtendedProtectionSetting(rawValue: chosen) ?? .warn
            }
        }
        let routes = validateRoutes(value.routes, in: document, poolNames: poolNames)
        warnAboutAdminPaths(routes, denyRules: denyRules, adminNetworks: adminNetworks, document: document)
        guard let name, !routes.isEmpty else { return nil }
        return VirtualServiceConfiguration(
            name: name.value, hosts: hosts, redirectRootTo: redirectRoot, adminNetworks: adminNetworks,
            denyRules: denyRules, routes: routes, extendedProtection: extendedProtection)
    }

    /// The form two spellings of one host share: lower case, no trailing dot, no brackets.
    static func hostKey(_ host: String) -> String {
        var key = host.lowercased()
        if key.hasSuffix(".") { key.removeLast() }
        if key.hasPrefix("["), key.hasSuffix("]") { key = String(key.dropFirst().dropLast()) }
        return key
    }

    /// A host name: lower-cased, without a trailing dot; exact names or IP literals only (wildcards
    /// belong to certificates). IPv6 literals are kept in brackets, the form a Host header carries.
    private func validateHost(_ host: Located<String>) -> String? {
        let text = host.value.lowercased()
        if text.hasPrefix("*.") {
            collector.error(
                "wildcard host '\(host.value)' in \(host.place)", at: host.mark,
                hint: "list each host name the service answers; wildcards are for certificates")
            return nil
        }
        let unbracketed = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        if unbracketed.contains(":"), IPAddress(unbracketed) != nil {
            return "[\(unbracketed)]"
        }
        let trimmed = text.hasSuffix(".") ? String(text.dropLast()) : text
        guard SocketEndpoint.isDNSName(Substring(trimmed)) || IPAddress(trimmed) != nil else {
            collector.error(
                "invalid host name '\(host.value)' in \(host.place)", at: host.mark,
                hint: "a DNS name such as mail.contoso.com, without scheme, port or path")
            return nil
        }
        return trimmed
    }

    /// Warnings for edge policies that leave admin paths more open than Exchange's guidance.
    private func warnAboutAdminPaths(
        _ routes: [RouteConfiguration], denyRules: DenyRuleSet, adminNetworks: [IPNetwork],
        document: Located<ServiceDocument>
    ) {
        let mark = document.value.denyRules?.mark ?? document.mark
        if routes.contains(where: { $0.preset == .powershell && !$0.blocked }), !denyRules.contains(.externalPowershell) {
            collector.warning(
                "\(document.place) exposes /powershell to every client", at: mark,
                hint: "keep 'external_powershell: true' so only admin networks reach it")
        }
        if !denyRules.contains(.explicitLogonVdir), routes.contains(where: { $0.preset == .owa || $0.preset == .ecp }) {
            collector.warning(
                "\(document.place) lets an OWA or ECP explicit logon reach other services "
                    + "(/owa/<address>/powershell, the OWASSRF request)", at: mark,
                hint: "keep 'explicit_logon_vdir: true'")
        }
        if routes.contains(where: { $0.adminOnly }), !denyRules.contains(.ecpAdminOnly) {
            collector.warning(
                "\(document.place) exposes the admin centre (/ecp) to every client", at: mark,
                hint: "keep 'ecp_admin_only: true' and list your admin networks in 'admin_networks'")
        }
        if routes.contains(where: { $0.adminOnly }), adminNetworks.isEmpty,
            let networks = document.value.adminNetworks?.first?.mark ?? document.mark
        {
            collector.warning(
                "\(document.place) has admin-only routes but no admin networks, so nobody can reach them", at: networks)
        }
    }
}
