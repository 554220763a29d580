/// Per-service defaults a `preset:` route starts from. Every value can be overridden in the route.
extension ExchangeService {
    /// The generic idle and response-head timeout for ordinary request/response services.
    static let standardTimeout: Duration = .seconds(120)

    /// Timeouts towards the backend for this service.
    ///
    /// ActiveSync `Ping` holds a request without sending a byte for up to 3540 s (MS-ASCMD), so both
    /// the response-head and idle timeouts must exceed it: 3660 s leaves two minutes of margin.
    /// EWS streaming notifications last up to 30 minutes; MAPI NotificationWait and RPC channels are
    /// long-lived: their idle timeouts are at least 600 s.
    public var defaultTimeouts: RouteTimeouts {
        switch self {
        case .activesync:
            return RouteTimeouts(header: .seconds(3660), idle: .seconds(3660))
        case .ews:
            return RouteTimeouts(header: .seconds(600), idle: .seconds(1800))
        case .mapi:
            return RouteTimeouts(header: .seconds(600), idle: .seconds(900))
        case .rpc:
            return RouteTimeouts(header: .seconds(600), idle: .seconds(900))
        case .autodiscover, .owa, .ecp, .oab, .powershell, .api:
            return RouteTimeouts()
        }
    }

    /// The largest request body accepted, in bytes. RPC_IN_DATA declares ~1 GB; ActiveSync and EWS
    /// carry attachments.
    public var defaultMaxBody: Int {
        switch self {
        case .rpc: return 2 * ByteSize.gibibyte
        case .activesync, .ews: return 100 * ByteSize.mebibyte
        case .autodiscover, .owa, .ecp, .mapi, .oab, .powershell, .api: return RouteConfiguration.defaultMaxBody
        }
    }

    /// Whether responses are gzip-compressed by default. Off for OAB (`.lzx` is already compressed),
    /// RPC (opaque binary channels) and MAPI (streamed `PENDING` keep-alives must not be buffered).
    public var compressesByDefault: Bool {
        switch self {
        case .owa, .ews, .autodiscover, .ecp, .activesync, .api: return true
        case .oab, .rpc, .mapi, .powershell: return false
        }
    }

    /// The default compression policy for this service's responses.
    public var defaultCompression: CompressionSettings {
        var policy = CompressionSettings(enabled: compressesByDefault)
        if self == .activesync {
            // ActiveSync bodies are WBXML, which compresses well and is not text/*.
            policy.types.append("application/vnd.ms-sync.wbxml")
        }
        return policy
    }

    /// Whether a route for this service is refused at the edge unless the configuration says
    /// `blocked: false` (remote PowerShell was the target of ProxyShell and ProxyNotShell).
    public var blockedByDefault: Bool { self == .powershell }

    /// Whether only clients from the service's `admin_networks` may use it (the admin centre).
    public var isAdminOnly: Bool { self == .ecp }

    /// Whether requests may arrive over HTTP/2. RPC over HTTP is an HTTP/1.1 protocol (two paired
    /// connections carrying `RPC_IN_DATA` / `RPC_OUT_DATA`), so its requests must come over HTTP/1.1.
    public var allowsHTTP2ByDefault: Bool { self != .rpc }
}
