/// The configuration file as written: Codable mirrors of the YAML schema, before validation.
///
/// Every property is optional so that one bad value does not stop the rest of the file from being
/// checked (see `NodeDecoder`); required keys are enforced by `ConfigValidator`, which also applies
/// defaults. `CodingKeys` are `CaseIterable` so unknown keys can be reported with a suggestion.
/// Scalars that need parsing (durations, sizes, addresses, paths) stay `Located<String>` here so
/// their errors can point at the exact value.
struct ConfigDocument: Codable {
    var listeners: [Located<ListenerDocument>]?
    var limits: Located<LimitsDocument>?
    var pools: [String: Located<PoolDocument>]?
    var services: [Located<ServiceDocument>]?
    var unknownHost: Located<Int>?
    var admin: Located<AdminDocument>?
    var screening: Located<ScreeningDocument>?
    var accessLog: Located<AccessLogDocument>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listeners, limits, pools, services, admin, screening
        case unknownHost = "unknown_host"
        case accessLog = "access_log"
    }
}

/// `screening:`: the operator's rule packs (PCRE2 rules run after the built-in deny rules).
struct ScreeningDocument: Codable {
    /// Pack files, relative to the configuration file's folder.
    var packs: [Located<String>]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case packs
    }
}

/// `listeners:` items.
struct ListenerDocument: Codable {
    var name: Located<String>?
    var address: Located<String>?
    /// `false`, or the PROXY protocol mapping (`ProxyProtocolDocument`).
    var proxyProtocol: Located<ProxyProtocolDocument>?
    var tls: Located<TLSDocument>?
    var redirectToHTTPS: Located<Int>?
    /// Read only to be refused with a hint: the block belongs in `tls:`.
    var clientCertificates: Located<ClientCertificatesDocument>?
    /// A pass-through listener's SNI routes (`PassthroughDocument`).
    var passthrough: Located<PassthroughDocument>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, address, tls, passthrough
        case proxyProtocol = "proxy_protocol"
        case redirectToHTTPS = "redirect_to_https"
        case clientCertificates = "client_certificates"
    }
}

/// A listener's `tls:` block.
struct TLSDocument: Codable {
    var certificates: [Located<CertificateDocument>]?
    var defaultCertificate: Located<String>?
    var strictSNI: Bool?
    var minVersion: Located<String>?
    var ciphers: Located<String>?
    var cipherSuites: Located<String>?
    var groups: [Located<String>]?
    var alpn: [Located<String>]?
    var handshakeTimeout: Located<String>?
    var sessionTickets: Bool?
    var clientCertificates: Located<ClientCertificatesDocument>?
    var ticketKeys: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case certificates, ciphers, groups, alpn
        case ticketKeys = "ticket_keys"
        case defaultCertificate = "default_certificate"
        case strictSNI = "strict_sni"
        case minVersion = "min_version"
        case cipherSuites = "cipher_suites"
        case handshakeTimeout = "handshake_timeout"
        case sessionTickets = "session_tickets"
        case clientCertificates = "client_certificates"
    }
}

/// `tls.certificates:` items.
struct CertificateDocument: Codable {
    var cert: Located<String>?
    var key: Located<String>?
    var ocsp: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case cert, key, ocsp
    }
}

/// The `limits:` block.
struct LimitsDocument: Codable {
    var maxHeaderLine: Located<String>?
    var maxHeaderTotal: Located<String>?
    var maxConnections: Located<Int>?
    var maxRedirectConnections: Located<Int>?
    var clientHeaderTimeout: Located<String>?
    var clientIdleTimeout: Located<String>?
    var shutdownGrace: Located<String>?
    var http2: Located<HTTP2LimitsDocument>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case http2
        case maxHeaderLine = "max_header_line"
        case maxHeaderTotal = "max_header_total"
        case maxConnections = "max_connections"
        case maxRedirectConnections = "max_redirect_connections"
        case clientHeaderTimeout = "client_header_timeout"
        case clientIdleTimeout = "client_idle_timeout"
        case shutdownGrace = "shutdown_grace"
    }
}

/// `limits.http2:`: what an HTTP/2 client may open at once on one connection.
struct HTTP2LimitsDocument: Codable {
    var maxConcurrentStreams: Located<Int>?
    var initialWindowSize: Located<String>?
    var connectionWindowSize: Located<String>?
    var uploadWindowSize: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxConcurrentStreams = "max_concurrent_streams"
        case initialWindowSize = "initial_window_size"
        case connectionWindowSize = "connection_window_size"
        case uploadWindowSize = "upload_window_size"
    }
}

/// `pools:` entries.
struct PoolDocument: Codable {
    var servers: [Located<ServerDocument>]?
    var trust: Located<TrustDocument>?
    var balance: Located<String>?
    var maxIdlePerServer: Located<Int>?
    var idleTimeout: Located<String>?
    var connectTimeout: Located<String>?
    var health: Located<HealthDocument>?
    var maxPinnedPerServer: Located<Int>?
    var maxConnectingPerServer: Located<Int>?
    var queueTimeout: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case servers, trust, balance, health
        case maxIdlePerServer = "max_idle_per_server"
        case maxPinnedPerServer = "max_pinned_per_server"
        case maxConnectingPerServer = "max_connecting_per_server"
        case queueTimeout = "queue_timeout"
        case idleTimeout = "idle_timeout"
        case connectTimeout = "connect_timeout"
    }
}

/// `pools.<name>.servers:` items.
struct ServerDocument: Codable {
    var name: Located<String>?
    var address: Located<String>?
    var tlsName: Located<String>?
    var weight: Located<Int>?
    var drain: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, address, weight, drain
        case tlsName = "tls_name"
    }
}

/// A pool's `trust:` block.
struct TrustDocument: Codable {
    var certificates: [Located<String>]?
    var caBundle: Located<String>?
    var pinSHA256: [Located<String>]?
    var systemStore: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case certificates
        case caBundle = "ca_bundle"
        case pinSHA256 = "pin_sha256"
        case systemStore = "system_store"
    }
}

/// A pool's `health:` block.
struct HealthDocument: Codable {
    var interval: Located<String>?
    var timeout: Located<String>?
    var rise: Located<Int>?
    var fall: Located<Int>?
    var enabled: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case interval, timeout, rise, fall, enabled
    }
}

/// `services:` items.
struct ServiceDocument: Codable {
    var name: Located<String>?
    var hosts: [Located<String>]?
    var redirectRootTo: Located<String>?
    var adminNetworks: [Located<String>]?
    var denyRules: Located<DenyRulesDocument>?
    var extendedProtection: Located<String>?
    var routes: [Located<RouteDocument>]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, hosts, routes
        case redirectRootTo = "redirect_root_to"
        case adminNetworks = "admin_networks"
        case denyRules = "deny_rules"
        case extendedProtection = "extended_protection"
    }
}

/// `services.routes:` items.
struct RouteDocument: Codable {
    var preset: Located<String>?
    var path: Located<String>?
    var pool: Located<String>?
    var timeouts: Located<TimeoutsDocument>?
    var maxBody: Located<String>?
    var compression: Located<CompressionDocument>?
    var affinity: Located<String>?
    var http2: Bool?
    var healthPath: Located<String>?
    var blocked: Bool?
    var clientCertificate: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case preset, path, pool, timeouts, compression, affinity, http2, blocked
        case maxBody = "max_body"
        case healthPath = "health_path"
        case clientCertificate = "client_certificate"
    }
}

/// A route's `timeouts:` block.
struct TimeoutsDocument: Codable {
    var connect: Located<String>?
    var header: Located<String>?
    var idle: Located<String>?
    var total: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case connect, header, idle, total
    }
}

/// A route's `compression:` block.
struct CompressionDocument: Codable {
    var enabled: Bool?
    var level: Located<Int>?
    var minSize: Located<String>?
    var types: [Located<String>]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, level, types
        case minSize = "min_size"
    }
}

/// The `admin:` block.
struct AdminDocument: Codable {
    var address: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case address
    }
}

/// A service's `deny_rules:` block: each built-in rule by its name, switched on or off.
struct DenyRulesDocument: Codable {
    /// The rules the file mentions, by name, with their setting.
    var settings: [String: Bool] = [:]

    /// The keys are the deny rules' names, so a misspelt rule is reported like any unknown key.
    struct RuleKey: CodingKey, CaseIterable {
        var stringValue: String
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        var intValue: Int? { nil }
        static var allCases: [RuleKey] { DenyRule.allCases.map { RuleKey(stringValue: $0.rawValue)! } }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: RuleKey.self)
        for key in RuleKey.allCases {
            if let value = try container.decodeIfPresent(Bool.self, forKey: key) { settings[key.stringValue] = value }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: RuleKey.self)
        for (name, value) in settings {
            if let key = RuleKey(stringValue: name) { try container.encode(value, forKey: key) }
        }
    }
}
