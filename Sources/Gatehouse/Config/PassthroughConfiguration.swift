import GatehouseTLS
import Yams

/// A pass-through listener's settings (`passthrough:`): TLS is not terminated; the ClientHello's
/// SNI chooses a pool by host name (the rules of certificate selection), and the client's TLS bytes
/// go to one of its servers unchanged, so the client sees the backend's own certificate and its
/// channel binding (Extended Protection) holds end to end.
public struct PassthroughConfiguration: Sendable, Hashable {
    /// Host patterns → pool, looked up exact first, then wildcard.
    public var routes: [PassthroughRoute]
    /// Where a ClientHello without SNI, with a malformed one, or with a host no route lists goes;
    /// nil: such connections are closed.
    public var defaultRoute: PassthroughRoute?
    /// How long a client has to send its whole ClientHello.
    public var clientHelloTimeout: Duration
    /// A connection with no byte in either direction for this long is closed.
    public var idleTimeout: Duration

    public static let defaultClientHelloTimeout = Duration.seconds(10)
    /// Long enough for ActiveSync's hour-long Ping, as the HTTP routes' idle timeouts allow.
    public static let defaultIdleTimeout = Duration.seconds(3600)

    public init(
        routes: [PassthroughRoute], defaultRoute: PassthroughRoute? = nil,
        clientHelloTimeout: Duration = defaultClientHelloTimeout, idleTimeout: Duration = defaultIdleTimeout
    ) {
        self.routes = routes
        self.defaultRoute = defaultRoute
        self.clientHelloTimeout = clientHelloTimeout
        self.idleTimeout = idleTimeout
    }
}

/// Hosts → a pool, for a pass-through listener.
public struct PassthroughRoute: Sendable, Hashable {
    /// Host names and `*.` wildcards (empty for the default route).
    public var hosts: [String]
    /// The pool's name.
    public var pool: String
    /// Whether a PROXY protocol v2 header naming the client goes first to the backend.
    public var sendProxyProtocol: Bool

    public init(hosts: [String], pool: String, sendProxyProtocol: Bool = false) {
        self.hosts = hosts
        self.pool = pool
        self.sendProxyProtocol = sendProxyProtocol
    }
}

/// `passthrough:` as written.
struct PassthroughDocument: Codable {
    var routes: [Located<PassthroughRouteDocument>]?
    var defaultRoute: Located<PassthroughRouteDocument>?
    var clientHelloTimeout: Located<String>?
    var idleTimeout: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case routes
        case defaultRoute = "default"
        case clientHelloTimeout = "client_hello_timeout"
        case idleTimeout = "idle_timeout"
    }
}

/// `passthrough.routes:` items and `passthrough.default`.
struct PassthroughRouteDocument: Codable {
    var hosts: [Located<String>]?
    var pool: Located<String>?
    var sendProxyProtocol: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hosts, pool
        case sendProxyProtocol = "send_proxy_protocol"
    }
}

extension ConfigValidator {
    /// A listener's `passthrough:` block.
    func validatePassthrough(_ document: Located<PassthroughDocument>, poolNames: Set<String>) -> PassthroughConfiguration? {
        let value = document.value
        let example = "routes: [{ hosts: [mail.contoso.com], pool: mailbox }]"
        var routes = [PassthroughRoute]()
        var seen = [String: Mark?]()
        var failed = false
        if let documents = required(value.routes, key: "routes", in: document, hint: "e.g. \(example)") {
            if documents.isEmpty && value.defaultRoute == nil {
                collector.error(
                    "\(document.place) has no routes and no default", at: document.mark, hint: "e.g. \(example)")
            }
            for route in documents {
                guard
                    let hosts = required(
                        route.value.hosts, key: "hosts", in: route, hint: "e.g. hosts: [mail.contoso.com, \"*.contoso.com\"]")
                else {
                    failed = true
                    continue
                }
                if hosts.isEmpty {
                    collector.error("'hosts' of \(route.place) is empty", at: route.mark, hint: "list the SNI names this route takes")
                }
                for host in hosts {
                    guard ServerNameTable<Int>.isValidPattern(host.value) else {
                        collector.error(
                            "\(host.place) '\(host.value)' is not a host name or wildcard SNI can match", at: host.mark,
                            hint: "write a DNS name (mail.contoso.com) or '*.' and a domain of two labels or more "
                                + "that is not a public suffix (\"*.contoso.com\"); IP addresses never come as SNI")
                        failed = true
                        continue
                    }
                    let key = host.value.lowercased()
                    if let earlier = seen[key] {
                        collector.error(
                            "host '\(host.value)' is listed twice in \(document.place) (also at \(lineText(earlier)))",
                            at: host.mark, hint: "each SNI name goes to one pool")
                        failed = true
                    }
                    seen[key] = host.mark
                }
                guard let route = passthroughRoute(route, hosts: hosts.map(\.value), poolNames: poolNames) else {
                    failed = true
                    continue
                }
                routes.append(route)
            }
        } else {
            failed = true
        }
        var defaultRoute: PassthroughRoute?
        if let fallback = value.defaultRoute {
            if let hosts = fallback.value.hosts {
                collector.error(
                    "'default' of \(document.place) takes no 'hosts'", at: hosts.first?.mark ?? fallback.mark,
                    hint: "the default takes every connection no route matches; move these hosts to a route")
                failed = true
            }
            defaultRoute = passthroughRoute(fallback, hosts: [], poolNames: poolNames)
            if defaultRoute == nil { failed = true }
        }
        var settings = PassthroughConfiguration(routes: routes, defaultRoute: defaultRoute)
        settings.clientHelloTimeout = duration(value.clientHelloTimeout, default: settings.clientHelloTimeout)
        settings.idleTimeout = duration(value.idleTimeout, default: settings.idleTimeout)
        return failed ? nil : settings
    }

    private func passthroughRoute(
        _ document: Located<PassthroughRouteDocument>, hosts: [String], poolNames: Set<String>
    ) -> PassthroughRoute? {
        guard let pool = required(document.value.pool, key: "pool", in: document, hint: "name a pool under 'pools:'")
        else { return nil }
        guard poolNames.contains(pool.value) else {
            collector.error(
                "\(document.place) uses pool '\(pool.value)', which is not defined", at: pool.mark,
                hint: Spelling.suggestion(for: pool.value, among: poolNames.sorted()).map { "did you mean '\($0)'?" }
                    ?? "define it under 'pools:'")
            return nil
        }
        var send = false
        if let proxy = document.value.sendProxyProtocol {
            switch proxy.value {
            case "v2": send = true
            case "off", "false": send = false
            default:
                collector.error(
                    "\(proxy.place) is '\(proxy.value)'", at: proxy.mark,
                    hint: "write 'v2' (a PROXY protocol v2 header goes to the backend first) or 'off'")
                return nil
            }
        }
        return PassthroughRoute(hosts: hosts, pool: pool.value, sendProxyProtocol: send)
    }
}

extension ListenerConfiguration {
    /// The pools a pass-through listener's routes (and default) send connections to; empty for
    /// other listeners.
    var passthroughPools: [String] {
        guard case .passthrough(let passthrough) = mode else { return [] }
        return (passthrough.routes + (passthrough.defaultRoute.map { [$0] } ?? [])).map(\.pool)
    }
}
