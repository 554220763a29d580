import Yams

/// Validation of a service's `routes:`, including preset expansion.
extension ConfigValidator {
    /// The routes of one service; prefixes must differ (ignoring case and a trailing `/`).
    func validateRoutes(
        _ documents: [Located<RouteDocument>]?, in service: Located<ServiceDocument>, poolNames: Set<String>
    ) -> [RouteConfiguration] {
        guard let documents = required(documents, key: "routes", in: service, hint: "e.g. routes: [{ preset: owa, pool: mailbox }]")
        else { return [] }
        if documents.isEmpty {
            collector.error("\(service.place) has no routes", at: service.mark, hint: "add e.g. '- { preset: owa, pool: mailbox }'")
        }
        var routes = [RouteConfiguration]()
        var stems = [String: Mark?]()
        for document in documents {
            guard let route = validateRoute(document, poolNames: poolNames) else { continue }
            // The routing table matches `/owa` and `/owa/` alike, case-insensitively.
            let stem = (route.prefix.hasSuffix("/") ? String(route.prefix.dropLast()) : route.prefix).lowercased()
            if let earlier = stems[stem] {
                collector.error(
                    "\(document.place) repeats the path '\(route.prefix)' of an earlier route (\(lineText(earlier)))",
                    at: document.value.path?.mark ?? document.value.preset?.mark ?? document.mark,
                    hint: "paths match case-insensitively and ignore a trailing '/'; remove one of the routes")
            }
            stems[stem] = document.mark
            routes.append(route)
        }
        return routes
    }

    /// One route: `preset:` and/or `path:`, a pool (unless blocked) and overrides of the defaults.
    private func validateRoute(_ document: Located<RouteDocument>, poolNames: Set<String>) -> RouteConfiguration? {
        let value = document.value
        var preset: ExchangeService?
        if let name = value.preset {
            guard let chosen = choice(name, among: ExchangeService.allCases.map(\.rawValue)) else { return nil }
            preset = ExchangeService(rawValue: chosen)
        }
        var prefix = preset?.pathPrefix
        if let path = value.path {
            guard isRoutablePrefix(path.value) else {
                collector.error(
                    "invalid path '\(path.value)' for \(path.place)", at: path.mark,
                    hint: "a canonical path prefix starting with '/', without '%', '?', '\\', '//', '.' or '..' segments")
                return nil
            }
            prefix = path.value
        }
        guard let prefix else {
            collector.error(
                "\(document.place) has neither 'preset' nor 'path'", at: document.mark,
                hint: "use e.g. 'preset: owa' (an Exchange service) or 'path: /custom/'")
            return nil
        }
        var route =
            preset.map { RouteConfiguration(preset: $0, pool: nil, prefix: prefix) }
            ?? RouteConfiguration(prefix: prefix, pool: nil)
        route.blocked = value.blocked ?? route.blocked
        if let pool = value.pool {
            if poolNames.contains(pool.value) {
                route.pool = pool.value
            } else {
                collector.error(
                    "\(document.place) uses pool '\(pool.value)', which is not defined", at: pool.mark,
                    hint: Spelling.suggestion(for: pool.value, among: poolNames.sorted()).map { "did you mean '\($0)'?" }
                        ?? "define it under 'pools:'")
                return nil
            }
        } else if !route.blocked, !document.writtenKeys.contains("pool") {
            collector.error(
                "missing key 'pool' in \(document.place)", at: document.mark,
                hint: "name the pool that serves this route, or set 'blocked: true'")
            return nil
        }
        if let timeouts = value.timeouts?.value {
            route.timeouts.connect = duration(timeouts.connect, default: route.timeouts.connect)
            route.timeouts.header = duration(timeouts.header, default: route.timeouts.header)
            route.timeouts.idle = duration(timeouts.idle, default: route.timeouts.idle)
            if let total = timeouts.total { route.timeouts.total = duration(total, default: .seconds(3600)) }
        }
        route.maxBody = size(value.maxBody, default: route.maxBody)
        if let compression = value.compression?.value {
            route.compression.enabled = compression.enabled ?? route.compression.enabled
            route.compression.level = integer(compression.level, in: 1...9, default: route.compression.level)
            if let minSize = compression.minSize {
                // Zero is meaningful here (compress everything), so it is parsed without the > 0 rule.
                if let parsed = ByteSize.parse(minSize.value) {
                    route.compression.minSize = parsed
                } else {
                    route.compression.minSize = size(minSize, default: route.compression.minSize)
                }
            }
            if let types = compression.types {
                route.compression.types = types.map { $0.value.lowercased() }
                for type in types where !isMediaRange(type.value) {
                    collector.error(
                        "invalid media type '\(type.value)' for \(type.place)", at: type.mark,
                        hint: "write type/subtype or type/*, e.g. text/* or application/json")
                }
            }
        }
        if let affinity = value.affinity, let chosen = choice(affinity, among: AffinityMode.allCases.map(\.rawValue)) {
            route.affinity = AffinityMode(rawValue: chosen) ?? .none
        }
        route.http2 = value.http2 ?? route.http2
        if let health = value.healthPath {
            if isRoutablePrefix(health.value) {
                route.healthPath = health.value
            } else {
                collector.error("invalid path '\(health.value)' for \(health.place)", at: health.mark, hint: "e.g. /owa/healthcheck.htm")
            }
        }
        if let requirement = value.clientCertificate,
            let chosen = choice(requirement, among: ["required", "none"])
        {
            route.clientCertificateRequired = chosen == "required"
        }
        warnAboutTimeouts(route, document: document)
        return route
    }

    /// Warns when a long-poll service gets timeouts shorter than its protocol's holds.
    private func warnAboutTimeouts(_ route: RouteConfiguration, document: Located<RouteDocument>) {
        guard let timeouts = document.value.timeouts else { return }
        if route.preset == .activesync, route.timeouts.idle < .seconds(3600) || route.timeouts.header < .seconds(3600) {
            collector.warning(
                "ActiveSync Ping holds a request for up to 3540 s, but \(timeouts.place) allows only "
                    + ConfigDuration.format(min(route.timeouts.idle, route.timeouts.header)), at: timeouts.mark,
                hint: "keep 'header' and 'idle' above 3600s (default 3660s) or devices will reconnect constantly")
        }
        if route.preset == .mapi || route.preset == .ews, route.timeouts.idle < .seconds(600) {
            collector.warning(
                "\(timeouts.place) sets an idle timeout below 600 s for \(route.preset!) long polls", at: timeouts.mark,
                hint: "MAPI NotificationWait and EWS streaming notifications hold connections for minutes")
        }
    }

    /// Whether `path` is a canonical path prefix the routing table can match.
    func isRoutablePrefix(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.contains("//") else { return false }
        guard path.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "%" && $0 != "?" && $0 != "#" && $0 != "\\" })
        else { return false }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return !segments.contains(".") && !segments.contains("..")
    }

    /// Whether `text` is `type/subtype` or `type/*`.
    private func isMediaRange(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let token: (Substring) -> Bool = { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "!#$&-^_.+".contains($0)) }
        }
        return parts.count == 2 && token(parts[0]) && (parts[1] == "*" || token(parts[1]))
    }
}
