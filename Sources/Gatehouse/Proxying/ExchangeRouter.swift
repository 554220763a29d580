import NIOCore
import NIOHTTP1

/// The `ProxyRouter` Gatehouse runs: framing checks, canonicalisation, host → virtual service
/// (421 when the connection's certificate does not cover the host), Exchange deny rules, path →
/// route, header rewriting. The backend is chosen only from configuration: nothing in the request
/// names a host or a server.
public struct ExchangeRouter: ProxyRouter {
    public let table: RoutingTable
    /// Route id (as used in `table`) → the route's data-path settings.
    public let policies: [RoutePolicy]
    public let rewriter: HeaderRewriter
    /// Status for a Host that no virtual service serves: 421 (default) or 404.
    public let unknownHostStatus: HTTPResponseStatus
    /// The operator's rule packs, run after the built-in deny rules; nil when none is configured
    /// (then screening costs one nil check).
    public let screening: ScreeningPacks?
    /// Deny-rule hit counters (metrics); nil when metrics are off.
    public var denyHits: DenyHitCounters?

    public init(
        table: RoutingTable, policies: [RoutePolicy], rewriter: HeaderRewriter = HeaderRewriter(),
        unknownHostStatus: HTTPResponseStatus = .misdirectedRequest, screening: ScreeningPacks? = nil
    ) {
        self.table = table
        self.policies = policies
        self.rewriter = rewriter
        self.unknownHostStatus = unknownHostStatus
        self.screening = screening
    }

    public func decide(
        head: HTTPRequestHead, framing parsed: RequestFraming.Parsed,
        connection: ClientConnectionFacts
    ) -> ProxyDecision {
        switch head.method {
        case .TRACE, .CONNECT:
            // TRACE echoes a request back (cookies and credentials included) and its body framing
            // is undefined; CONNECT asks for a tunnel, after which a backend connection carries
            // bytes Gatehouse cannot account for. Neither ever reaches a backend.
            return .respond(
                LocalResponse(
                    status: .methodNotAllowed,
                    reason: "\(head.method.rawValue) is never forwarded"))
        default:
            break
        }
        let framing: RequestBodyFraming
        switch parsed {
        case .success(let checked): framing = checked
        case .failure(let rejection): return .respond(LocalResponse(status: .badRequest, reason: "\(rejection)"))
        }
        guard let host = head.headers.first(name: "host"), let hostName = HostName.normalise(host) else {
            return .respond(LocalResponse(status: .badRequest, reason: "missing or invalid Host header"))
        }
        let target: CanonicalTarget
        do {
            target = try CanonicalTarget(requestTarget: head.uri, method: head.method, host: host)
        } catch {
            return .respond(LocalResponse(status: .badRequest, reason: "\(error)"))
        }
        if target.form == .asterisk {
            var headers = HTTPHeaders()
            headers.add(name: "allow", value: "OPTIONS, GET, HEAD, POST")
            return .respond(LocalResponse(status: .ok, headers: headers, body: "", reason: "OPTIONS *"))
        }
        guard let service = table.service(forHost: host) else {
            return .respond(LocalResponse(status: unknownHostStatus, reason: "no virtual service for host \(hostName)"))
        }
        if connection.isTLS && !connection.certificateCovers(hostName) {
            return .respond(
                LocalResponse(
                    status: .misdirectedRequest,
                    reason: "host \(hostName) is not covered by the certificate this connection presented"))
        }
        let client = connection.clientIP ?? IPAddress(ipv4: 0)
        if let rule = table.denial(
            serviceIndex: service, method: head.method, target: target,
            headers: head.headers, client: client)
        {
            denyHits?.hit(rule)
            return .respond(LocalResponse(status: .forbidden, reason: "deny rule \(rule.rawValue)"))
        }
        if let screening, let rule = screening.firstMatch(head: head, target: target, client: client) {
            denyHits?.hit(screeningRule: rule.label)
            switch rule.action {
            case .deny:
                return .respond(LocalResponse(status: .forbidden, reason: "rule \(rule.label)"))
            case .status(let code):
                return .respond(LocalResponse(status: HTTPResponseStatus(statusCode: code), reason: "rule \(rule.label)"))
            case .abort:
                return .abort(reason: "rule \(rule.label) (abort)")
            }
        }
        switch table.match(serviceIndex: service, target: target) {
        case .notFound:
            return .respond(LocalResponse(status: .notFound, reason: "no route for \(target.path)"))
        case .redirect(let location):
            var headers = HTTPHeaders()
            headers.add(name: "location", value: location)
            return .respond(LocalResponse(status: .found, headers: headers, reason: "root redirect"))
        case .route(let id):
            let policy = policies[id]
            if policy.blocked {
                return .respond(LocalResponse(status: .forbidden, reason: "route \(policy.name) is blocked at the edge"))
            }
            if let refusal = ClientCertificateRequirement.refusal(policy: policy, connection: connection) {
                return .respond(refusal)
            }
            var forwarded = head
            // Set only when different: the head's storage is shared with the client's head, and
            // each first write copies it (the usual HTTP/1.1 request keeps both as they are).
            if forwarded.uri != target.forwardTarget { forwarded.uri = target.forwardTarget }
            if forwarded.version != .http1_1 { forwarded.version = .http1_1 }
            rewriter.rewriteRequest(
                &forwarded.headers, clientText: connection.clientIPText ?? "0.0.0.0",
                originalHost: host, clientCertificate: connection.clientCertificate)
            // Gatehouse frames the backend request itself, never a codec default (issue #12).
            RequestFraming.apply(framing, to: &forwarded.headers)
            return .forward(policy: policy, head: forwarded, framing: framing)
        }
    }

    public func clientResponseHead(_ head: HTTPResponseHead, policy: RoutePolicy) -> HTTPResponseHead {
        var rewritten = head
        rewriter.rewriteResponse(&rewritten.headers)
        return rewritten
    }
}
