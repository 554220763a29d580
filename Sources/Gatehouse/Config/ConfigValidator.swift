import Foundation
import Yams

/// Turns a decoded `ConfigDocument` into a `GatehouseConfiguration`: applies defaults, resolves
/// paths against the configuration file's folder, checks references and values, and records every
/// problem in the collector (nothing stops at the first error).
struct ConfigValidator {
    let collector: DiagnosticCollector
    /// The absolute folder of the configuration file; relative paths are resolved against it.
    let baseDirectory: String
    /// The absolute path of the configuration file.
    let sourcePath: String

    /// Validates the whole document. Returns a configuration only if no error was recorded.
    func validate(_ document: ConfigDocument, rootMark: Mark?) -> GatehouseConfiguration? {
        let listeners = validateListeners(
            document.listeners, rootMark: rootMark, poolNames: Set((document.pools ?? [:]).keys))
        let limits = validateLimits(document.limits?.value)
        let pools = validatePools(document.pools)
        let services = validateServices(document.services, poolNames: Set((document.pools ?? [:]).keys), rootMark: rootMark)
        warnUnusedPools(document.pools, services: document.services, listeners: listeners)
        warnUnreachableClientCertificateRoutes(document.services, listeners: listeners)
        warnQueueTimeouts(document.pools, pools: pools, services: services)
        var unknownHost = UnknownHostStatus.misdirected
        if let status = document.unknownHost {
            if let parsed = UnknownHostStatus(rawValue: status.value) {
                unknownHost = parsed
            } else {
                collector.error(
                    "\(status.place) must be 421 or 404, not \(status.value)", at: status.mark,
                    hint: "421 lets HTTP/2 clients retry on a connection for the right host")
            }
        }
        let admin = validateAdmin(document.admin)
        if let admin, admin.address.port != 0, let listener = listeners.first(where: { $0.address == admin.address }),
            let mark = document.admin?.value.address?.mark
        {
            collector.error(
                "the admin endpoint's address \(admin.address) is also listener '\(listener.name)''s address", at: mark,
                hint: "give the admin endpoint its own port, e.g. 127.0.0.1:9090")
        }
        let screening = validateScreening(document.screening)
        let accessLog = validateAccessLog(document.accessLog)
        guard collector.errors.isEmpty else { return nil }
        return GatehouseConfiguration(
            sourcePath: sourcePath, listeners: listeners, limits: limits, pools: pools, services: services,
            unknownHostStatus: unknownHost, admin: admin, screening: screening,
            accessLog: accessLog)
    }

    /// The global `limits:` block with defaults.
    func validateLimits(_ document: LimitsDocument?) -> ClientLimits {
        var limits = ClientLimits()
        guard let document else { return limits }
        limits.maxHeaderLine = size(document.maxHeaderLine, default: limits.maxHeaderLine)
        limits.maxHeaderTotal = size(document.maxHeaderTotal, default: limits.maxHeaderTotal)
        if let line = document.maxHeaderLine, limits.maxHeaderLine > limits.maxHeaderTotal {
            collector.error(
                "\(line.place) (\(ByteSize.format(limits.maxHeaderLine))) is larger than max_header_total "
                    + "(\(ByteSize.format(limits.maxHeaderTotal)))", at: line.mark,
                hint: "a single header line cannot exceed the whole head; raise max_header_total")
        }
        limits.maxConnections = connectionCount(document.maxConnections, default: limits.maxConnections)
        limits.maxRedirectConnections = connectionCount(
            document.maxRedirectConnections, default: limits.maxRedirectConnections)
        limits.clientHeaderTimeout = duration(document.clientHeaderTimeout, default: limits.clientHeaderTimeout)
        limits.clientIdleTimeout = duration(document.clientIdleTimeout, default: limits.clientIdleTimeout)
        limits.shutdownGrace = duration(document.shutdownGrace, default: limits.shutdownGrace)
        limits.http2 = validateHTTP2Limits(document.http2)
        return limits
    }

    /// A connection cap (`max_connections`, `max_redirect_connections`): a whole number of at least
    /// 1, or `fallback` with an error.
    private func connectionCount(_ value: Located<Int>?, default fallback: Int) -> Int {
        guard let value else { return fallback }
        guard value.value > 0 else {
            collector.error(
                "\(value.place) must be at least 1, not \(value.value)", at: value.mark,
                hint: "it caps the connections open at once; leave the key out for the default, \(fallback)")
            return fallback
        }
        return value.value
    }

    /// The optional `admin:` endpoint. Warns when it listens beyond loopback: it serves metrics and
    /// state without authentication.
    func validateAdmin(_ document: Located<AdminDocument>?) -> AdminConfiguration? {
        guard let document else { return nil }
        guard let address = required(document.value.address, key: "address", in: document) else { return nil }
        guard let endpoint = endpoint(address, requireIP: true, allowPortZero: true) else { return nil }
        if let ip = IPAddress(endpoint.host), !(try! IPNetwork("127.0.0.0/8")).contains(ip),
            !(try! IPNetwork("::1/128")).contains(ip)
        {
            collector.warning(
                "the admin endpoint listens on \(endpoint), beyond loopback", at: address.mark,
                hint: "it has no authentication; bind it to 127.0.0.1 or a management network behind a firewall")
        }
        return AdminConfiguration(address: endpoint)
    }
}

// MARK: - Value helpers

extension ConfigValidator {
    /// The value of a required key, or an error at the section that lacks it. A key that is written
    /// but whose value failed to decode has been reported already, so it is not called missing.
    func required<T, Section>(_ value: T?, key: String, in section: Located<Section>, hint: String? = nil) -> T? {
        if value == nil, !section.writtenKeys.contains(key) {
            collector.error("missing key '\(key)' in \(section.place)", at: section.mark, hint: hint)
        }
        return value
    }

    /// A duration value, or `fallback` (with an error recorded) when it is absent or invalid.
    func duration(_ value: Located<String>?, default fallback: Duration) -> Duration {
        guard let value else { return fallback }
        guard let parsed = ConfigDuration.parse(value.value) else {
            collector.error(
                "invalid duration '\(value.value)' for \(value.place)", at: value.mark,
                hint: "write e.g. 250ms, 10s, 5m, 1h, or a whole number of seconds")
            return fallback
        }
        guard parsed > .zero else {
            collector.error("\(value.place) must be longer than zero", at: value.mark)
            return fallback
        }
        return parsed
    }

    /// A byte size value, or `fallback` (with an error recorded) when it is absent or invalid.
    func size(_ value: Located<String>?, default fallback: Int) -> Int {
        guard let value else { return fallback }
        guard let parsed = ByteSize.parse(value.value) else {
            collector.error(
                "invalid size '\(value.value)' for \(value.place)", at: value.mark,
                hint: "write e.g. 512B, 64KiB, 10MiB, 2GiB, or a whole number of bytes")
            return fallback
        }
        guard parsed > 0 else {
            collector.error("\(value.place) must be larger than zero", at: value.mark)
            return fallback
        }
        return parsed
    }

    /// A whole number in `range`, or `fallback` with an error.
    func integer(_ value: Located<Int>?, in range: ClosedRange<Int>, default fallback: Int) -> Int {
        guard let value else { return fallback }
        guard range.contains(value.value) else {
            collector.error(
                "\(value.place) must be between \(range.lowerBound) and \(range.upperBound), not \(value.value)",
                at: value.mark)
            return fallback
        }
        return value.value
    }

    /// One of `choices` (exact spelling), or nil with an error suggesting the closest.
    func choice(_ value: Located<String>, among choices: [String]) -> String? {
        if choices.contains(value.value) { return value.value }
        collector.error(
            "unknown value '\(value.value)' for \(value.place)", at: value.mark,
            hint: Spelling.suggestion(for: value.value, among: choices).map { "did you mean '\($0)'?" }
                ?? "use one of: " + choices.joined(separator: ", "))
        return nil
    }

    /// A `host:port` address, or nil with an error saying what is wrong with it.
    func endpoint(_ value: Located<String>, requireIP: Bool, allowPortZero: Bool) -> SocketEndpoint? {
        switch SocketEndpoint.parse(value.value, requireIP: requireIP, allowPortZero: allowPortZero) {
        case .success(let endpoint):
            return endpoint
        case .failure(let failure):
            let problem: String
            let hint: String
            switch failure {
            case .missingPort:
                problem = "has no port"
                hint = "write host:port, e.g. 127.0.0.1:8443 or [::1]:443"
            case .badPort:
                problem = "has an invalid port"
                hint = "the port is a number from \(allowPortZero ? 0 : 1) to 65535"
            case .badHost:
                problem = requireIP ? "does not start with an IP address" : "has an invalid host"
                hint =
                    requireIP
                    ? "listen on an IP address, e.g. 0.0.0.0:443, 127.0.0.1:8443 or [::]:443"
                    : "write host:port with a DNS name or IP address; IPv6 in brackets, e.g. [2001:db8::1]:444"
            }
            collector.error("invalid address '\(value.value)' for \(value.place): it \(problem)", at: value.mark, hint: hint)
            return nil
        }
    }

    /// The absolute form of a path from the file, resolved against the configuration file's folder.
    func absolutePath(_ path: String) -> String {
        let url =
            path.hasPrefix("/")
            ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: baseDirectory, isDirectory: true))
        return url.standardizedFileURL.path
    }

    /// A path to a file that must exist and be readable (certificates, keys, trust anchors).
    /// Returns the absolute path, or nil with an error. The file is not parsed here.
    func readableFile(_ value: Located<String>, what: String) -> String? {
        let path = absolutePath(value.value)
        var isDirectory: ObjCBool = false
        let resolvedNote = value.value.hasPrefix("/") ? "" : " (resolved to \(path))"
        let relativeHint = "relative paths are relative to the folder of the configuration file"
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            collector.error(
                "\(what) '\(value.value)'\(resolvedNote) for \(value.place) does not exist", at: value.mark,
                hint: relativeHint)
            return nil
        }
        guard !isDirectory.boolValue else {
            collector.error("\(what) '\(value.value)'\(resolvedNote) for \(value.place) is a folder, not a file", at: value.mark)
            return nil
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            collector.error(
                "\(what) '\(value.value)'\(resolvedNote) for \(value.place) is not readable by this user", at: value.mark,
                hint: "check the file's owner and permissions")
            return nil
        }
        return path
    }

    /// Whether `name` is a plain identifier (letters, digits, `-`, `_`, `.`), for listener/pool/server names.
    func isIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    /// Records an error unless `name` is a plain identifier.
    func checkIdentifier(_ name: Located<String>) {
        if !isIdentifier(name.value) {
            collector.error(
                "invalid name '\(name.value)' for \(name.place)", at: name.mark,
                hint: "use letters, digits, '-', '_' and '.' (at most 64)")
        }
    }

    /// "line N" of a mark, for messages that point at an earlier definition.
    func lineText(_ mark: Mark?) -> String { mark.map { "line \($0.line)" } ?? "earlier" }
}
