import GatehouseCompression
import GatehouseTLS
import NIOCore
import NIOHTTP1

/// Per-route settings the data path needs for one request.
public struct RoutePolicy: Sendable {
    /// Index of the route's pool in the runtime's pool list.
    public var poolIndex: Int
    /// A name for logs and metrics, e.g. "contoso/owa".
    public var name: String
    /// Longest silence (no byte either way) before the request is abandoned (504 before the
    /// response head, connection close after).
    public var idleTimeout: TimeAmount
    /// Longest wait for a backend connection (a pooled one, or TCP connect plus TLS handshake)
    /// before the request is answered 504.
    public var connectTimeout: TimeAmount
    /// Longest wait for the backend's response head once the whole request was sent (504). Long
    /// polls (ActiveSync Ping) need it above their hold time; an upload still streaming is bounded
    /// by `idleTimeout` instead.
    public var headerTimeout: TimeAmount
    /// Optional cap on the whole exchange.
    public var totalTimeout: TimeAmount?
    /// Largest request body accepted (413 beyond it; checked on Content-Length and while streaming).
    public var maxBodyBytes: Int64
    /// The route exists only to refuse its path at the edge (403), e.g. the powershell preset.
    public var blocked: Bool
    /// Response compression for this route; nil when off (OAB, RPC, MAPI by default).
    public var compression: GatehouseCompression.CompressionPolicy?
    /// The route's probed service: an index into its pool's `healthPaths`, or nil for
    /// server-level health.
    public var healthService: Int?
    /// Whether the anchor mailbox picks the backend (rendezvous hash) instead of the balancer.
    public var affinity: AffinityMode
    /// The route carries NTLM/Negotiate for a virtual service (this index) whose
    /// `extended_protection` is not `off`: under `bridged`, servers whose certificate does not
    /// bind like the front's are skipped (`PoolHealthView.bindingExcluded`). Nil otherwise.
    public var bindingService: Int?
    /// Which of the route's requests are long polls (kept out of the latency histogram).
    public var longPoll: LongPollRule = .none
    /// The route's metric handles; nil when metrics are off (tests, benchmarks).
    public var metrics: RouteMetrics?
    /// Requests without a verified client certificate get 403 (`client_certificate: required`).
    public var requiresClientCertificate = false

    public init(
        poolIndex: Int, name: String, idleTimeout: TimeAmount, connectTimeout: TimeAmount = .seconds(5),
        headerTimeout: TimeAmount = .seconds(120), totalTimeout: TimeAmount? = nil,
        maxBodyBytes: Int64, blocked: Bool = false,
        compression: GatehouseCompression.CompressionPolicy? = nil,
        healthService: Int? = nil, affinity: AffinityMode = .none
    ) {
        self.poolIndex = poolIndex
        self.name = name
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
        self.headerTimeout = headerTimeout
        self.totalTimeout = totalTimeout
        self.maxBodyBytes = maxBodyBytes
        self.blocked = blocked
        self.compression = compression
        self.healthService = healthService
        self.affinity = affinity
    }
}

/// A response Gatehouse writes itself (errors, redirects, denials), with the reason it logs.
public struct LocalResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: String
    /// Why, for the log line (e.g. "deny rule proxyshell_autodiscover").
    public var reason: String

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: String? = nil, reason: String) {
        self.status = status
        self.headers = headers
        // Gatehouse's own answers are plain text: a browser must never sniff one (which may echo
        // a path the client chose) into HTML.
        if !headers.contains(name: "x-content-type-options") {
            self.headers.add(name: "X-Content-Type-Options", value: "nosniff")
        }
        self.body = body ?? "\(status.code) \(status.reasonPhrase)\n"
        self.reason = reason
    }
}

/// What to do with a request, decided once from its head.
public enum ProxyDecision: Sendable {
    /// Send it to a backend of `policy.poolIndex` with this head (already canonicalised and
    /// rewritten, its framing headers set from `framing`); the body is delimited by `framing`.
    case forward(policy: RoutePolicy, head: HTTPRequestHead, framing: RequestBodyFraming)
    /// Answer it locally.
    case respond(LocalResponse)
    /// Send no response at all (a screening rule's `abort`, IIS's AbortRequest): close the
    /// HTTP/1.1 connection, reset the HTTP/2 stream. `reason` is logged (e.g. "rule pack/id").
    case abort(reason: String)
}

/// Facts about the client connection a request arrived on, for routing and headers.
public struct ClientConnectionFacts: Sendable {
    /// The client's IP address, or nil when unknown (a Unix socket).
    public var clientIP: IPAddress? {
        didSet { clientIPText = clientIP?.description }
    }
    /// `clientIP` as text (X-Forwarded-For, the access log), formatted once per connection.
    public private(set) var clientIPText: String?
    /// Whether the connection is TLS (for X-Forwarded-Proto).
    public var isTLS: Bool
    /// The SNI name the client sent, if any.
    public var serverName: String?
    /// Whether the certificate this connection presented covers a host name: requests for hosts it
    /// does not cover get 421 (RFC 9110 7.4; connection coalescing).
    public var certificateCovers: @Sendable (String) -> Bool
    /// The client certificate OpenSSL verified on this connection (listeners with
    /// `client_certificates`), or nil: for routing (`client_certificate: required`), the
    /// `X-Client-Cert-*` headers and the access log.
    public var clientCertificate: VerifiedClientCertificate?

    public init(
        clientIP: IPAddress?, isTLS: Bool, serverName: String?,
        certificateCovers: @escaping @Sendable (String) -> Bool
    ) {
        self.clientIP = clientIP
        self.clientIPText = clientIP?.description
        self.isTLS = isTLS
        self.serverName = serverName
        self.certificateCovers = certificateCovers
    }
}

extension ProxyRouter {
    /// Parses the head's framing and decides (tools and tests; the data path parses once itself).
    public func decide(head: HTTPRequestHead, connection: ClientConnectionFacts) -> ProxyDecision {
        decide(head: head, framing: RequestFraming.parse(head.headers), connection: connection)
    }
}

/// The routing and policy brain behind the data path: immutable, shared by all connections, and
/// swapped whole on reload. `ProxyHandler` asks it once per request head.
public protocol ProxyRouter: Sendable {
    /// Decides how to handle a request whose framing headers were parsed once, by
    /// `RequestFraming.parse`, when its head arrived (`ProxiedRequest`); the same value decides the
    /// early 413 by declared length and whether a local answer leaves an unread body behind.
    func decide(head: HTTPRequestHead, framing: RequestFraming.Parsed, connection: ClientConnectionFacts) -> ProxyDecision
    /// Rewrites a backend response head before it goes to the client (hop-by-hop headers).
    func clientResponseHead(_ head: HTTPResponseHead, policy: RoutePolicy) -> HTTPResponseHead
}
