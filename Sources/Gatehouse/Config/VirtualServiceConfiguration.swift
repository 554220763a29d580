/// A virtual service: the host names it answers, its ordered routes and its edge policies.
public struct VirtualServiceConfiguration: Sendable {
    /// The service's name, for logs and `gatehouse check`.
    public var name: String
    /// Exact host names in lower case (no port, no trailing dot, no wildcards).
    public var hosts: [String]
    /// When set, a request for exactly `/` is redirected here (Exchange's `/` -> `/owa/`).
    public var redirectRootTo: String?
    /// Networks allowed to reach admin-only routes (`/ecp`) and, when unblocked, `/powershell`.
    public var adminNetworks: [IPNetwork]
    /// The built-in Exchange deny rules switched on for this service (all by default).
    public var denyRules: DenyRuleSet
    /// The routes in configuration order (the routing table picks the longest matching prefix).
    public var routes: [RouteConfiguration]
    /// How `gatehouse check` treats front/back certificates whose channel bindings differ.
    public var extendedProtection: ExtendedProtectionSetting

    /// A service; defaults are the safe ones a configuration file gets.
    public init(
        name: String, hosts: [String], redirectRootTo: String? = nil,
        adminNetworks: [IPNetwork] = VirtualServiceConfiguration.defaultAdminNetworks,
        denyRules: DenyRuleSet = .all, routes: [RouteConfiguration],
        extendedProtection: ExtendedProtectionSetting = .warn
    ) {
        self.extendedProtection = extendedProtection
        self.name = name
        self.hosts = hosts
        self.redirectRootTo = redirectRootTo
        self.adminNetworks = adminNetworks
        self.denyRules = denyRules
        self.routes = routes
    }

    /// Loopback only: the admin centre is closed to everyone else until networks are configured.
    public static let defaultAdminNetworks: [IPNetwork] = [
        try! IPNetwork("127.0.0.0/8"),  // a literal that parses; a failure here is a programming error
        try! IPNetwork("::1/128")
    ]
}

/// A service's `extended_protection:`: whether the Exchange servers behind it enforce Windows
/// Extended Protection (channel binding), which through a TLS-bridging proxy works only when the
/// proxy and the servers present the same certificate.
public enum ExtendedProtectionSetting: String, Sendable, Hashable, CaseIterable {
    /// Unknown (the default): `gatehouse check` warns about each front/back certificate mismatch.
    case warn
    /// The servers enforce it and Gatehouse bridges TLS: a mismatch is an error (`gatehouse check`
    /// exits non-zero).
    case bridged
    /// The servers do not enforce it: certificates are not compared. (`none` is accepted too.)
    case off
}

/// One path-prefix route of a virtual service, with the preset's defaults already applied.
public struct RouteConfiguration: Sendable {
    /// The path prefix, matched case-insensitively on the canonical path (e.g. `/owa/`).
    public var prefix: String
    /// The pool that serves this route; nil only for a blocked route.
    public var pool: String?
    /// The Exchange service this route was expanded from, if it used `preset:`.
    public var preset: ExchangeService?
    /// Timeouts towards the backend.
    public var timeouts: RouteTimeouts
    /// The largest request body accepted, in bytes (413 above it).
    public var maxBody: Int
    /// Response compression policy.
    public var compression: CompressionSettings
    /// How a backend is chosen among the pool's healthy servers.
    public var affinity: AffinityMode
    /// Whether requests for this route may arrive over HTTP/2 (otherwise HTTP_1_1_REQUIRED).
    public var http2: Bool
    /// The path probed on each backend for this route's health (`/owa/healthcheck.htm`), or nil.
    public var healthPath: String?
    /// Whether every request for this route is refused at the edge (403).
    public var blocked: Bool
    /// Whether only clients from the service's admin networks may use this route.
    public var adminOnly: Bool
    /// Whether a request needs a verified client certificate (403 otherwise; `client_certificate: required`).
    public var clientCertificateRequired = false

    /// 64 MiB: the body limit for routes without a more specific preset.
    public static let defaultMaxBody = 64 * ByteSize.mebibyte

    /// A route; unspecified values take the generic defaults.
    public init(
        prefix: String, pool: String?, preset: ExchangeService? = nil, timeouts: RouteTimeouts = RouteTimeouts(),
        maxBody: Int = RouteConfiguration.defaultMaxBody, compression: CompressionSettings = CompressionSettings(),
        affinity: AffinityMode = .none, http2: Bool = true, healthPath: String? = nil, blocked: Bool = false,
        adminOnly: Bool = false
    ) {
        self.prefix = prefix
        self.pool = pool
        self.preset = preset
        self.timeouts = timeouts
        self.maxBody = maxBody
        self.compression = compression
        self.affinity = affinity
        self.http2 = http2
        self.healthPath = healthPath
        self.blocked = blocked
        self.adminOnly = adminOnly
    }

    /// A route with every default of `preset`, at the preset's own prefix unless `prefix` is given.
    public init(preset: ExchangeService, pool: String?, prefix: String? = nil) {
        self.init(
            prefix: prefix ?? preset.pathPrefix, pool: pool, preset: preset, timeouts: preset.defaultTimeouts,
            maxBody: preset.defaultMaxBody, compression: preset.defaultCompression, affinity: .none,
            http2: preset.allowsHTTP2ByDefault, healthPath: preset.healthCheckPath, blocked: preset.blockedByDefault,
            adminOnly: preset.isAdminOnly)
    }
}

/// Timeouts of one route towards its backend.
public struct RouteTimeouts: Sendable, Hashable {
    /// TCP connect plus TLS handshake to the backend.
    public var connect: Duration
    /// From the request being sent until the backend's response head arrives.
    public var header: Duration
    /// The longest silence (no byte either way) while a request or response body is streaming.
    public var idle: Duration
    /// An overall limit per request, or nil for none (long polls are bounded by `idle` instead).
    public var total: Duration?

    /// Timeouts; the defaults suit ordinary request/response traffic.
    public init(
        connect: Duration = .seconds(5), header: Duration = .seconds(120), idle: Duration = .seconds(120),
        total: Duration? = nil
    ) {
        self.connect = connect
        self.header = header
        self.idle = idle
        self.total = total
    }
}

/// When responses are gzip-compressed.
public struct CompressionSettings: Sendable, Hashable {
    /// Whether compression is on for the route.
    public var enabled: Bool
    /// zlib level 1 (fastest) ... 9 (smallest).
    public var level: Int
    /// Responses with a known length below this many bytes are sent as they are.
    public var minSize: Int
    /// Media types to compress; `text/*` covers every text type. Parameters are ignored when matching.
    public var types: [String]

    /// The types compressed when a configuration does not list its own.
    public static let defaultTypes = [
        "text/*", "application/json", "application/xml", "application/soap+xml", "application/javascript",
        "image/svg+xml"
    ]

    /// A policy; defaults are level 6, 1 KiB minimum and the common text types.
    public init(enabled: Bool = true, level: Int = 6, minSize: Int = 1024, types: [String] = CompressionSettings.defaultTypes) {
        self.enabled = enabled
        self.level = level
        self.minSize = minSize
        self.types = types
    }
}

/// How a route picks among its pool's healthy servers.
public enum AffinityMode: String, Sendable, Hashable, CaseIterable {
    /// The pool's balancing policy alone.
    case none
    /// Hash the anchor mailbox (X-AnchorMailbox, MailboxId=, RPC `mailbox@domain`) onto the healthy
    /// servers so one mailbox stays on one server; never lets the client name the server.
    case anchorMailbox = "anchor_mailbox"
}
