/// The Exchange virtual services Gatehouse knows by name, so a route can say `preset: activesync`
/// and get the path, health probe, timeouts, body limit and compression that service needs.
///
/// The raw value is the preset name used in configuration files. Facts come from
/// `shared/design/EXCHANGE.md` (Microsoft's documentation, MS-ASCMD, MS-OXCMAPIHTTP, MS-OXCRPC).
public enum ExchangeService: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `/autodiscover/`: `autodiscover.xml` (POST) and `autodiscover.json` (anonymous GET).
    case autodiscover
    /// `/EWS/`: Exchange Web Services (SOAP), including long-lived streaming notifications.
    case ews
    /// `/Microsoft-Server-ActiveSync`: mobile devices; `Cmd=Ping` holds a request for up to 3540 s.
    case activesync
    /// `/owa/`: Outlook on the web (browser, forms authentication).
    case owa
    /// `/ecp/`: the Exchange admin centre; reachable from admin networks only.
    case ecp
    /// `/mapi/`: MAPI over HTTP (Outlook); NotificationWait streams `PENDING` chunks for minutes.
    case mapi
    /// `/OAB/`: offline address book downloads (large, already compressed `.lzx` files).
    case oab
    /// `/rpc/`: Outlook Anywhere (RPC over HTTP), `RPC_IN_DATA`/`RPC_OUT_DATA` with ~1 GB bodies.
    case rpc
    /// `/powershell`: remote PowerShell; blocked at the edge by default.
    case powershell
    /// `/API/`: the REST API.
    case api

    public var description: String { rawValue }

    /// The path prefix this service lives under, in Exchange's own spelling. Matching is
    /// case-insensitive (Exchange's virtual directories are), so `/ews/` matches `/EWS/`.
    public var pathPrefix: String {
        switch self {
        case .autodiscover: return "/autodiscover/"
        case .ews: return "/EWS/"
        case .activesync: return "/Microsoft-Server-ActiveSync"
        case .owa: return "/owa/"
        case .ecp: return "/ecp/"
        case .mapi: return "/mapi/"
        case .oab: return "/OAB/"
        case .rpc: return "/rpc/"
        case .powershell: return "/powershell"
        case .api: return "/API/"
        }
    }

    /// The virtual directory that answers `healthcheck.htm`, or nil when the service has none.
    var healthCheckDirectory: String? {
        switch self {
        case .autodiscover: return "autodiscover"
        case .ews: return "ews"
        case .activesync: return "Microsoft-Server-ActiveSync"
        case .owa: return "owa"
        case .ecp: return "ecp"
        case .mapi: return "mapi"
        case .oab: return "oab"
        case .rpc: return "rpc"
        case .powershell, .api: return nil
        }
    }

    /// The unauthenticated probe path (`/<vdir>/healthcheck.htm`), answered `200` with a body starting
    /// `200 OK<br/>` by a healthy server; nil for PowerShell and the REST API, which have none.
    /// Probing `/` instead would only see the redirect to `/owa/`.
    public var healthCheckPath: String? {
        healthCheckDirectory.map { "/\($0)/healthcheck.htm" }
    }

    /// The service whose prefix matches `path` case-insensitively (a prefix without a trailing `/`
    /// matches itself and `<prefix>/...` only), or nil.
    public static func matching(path: String) -> ExchangeService? {
        let lowered = path.lowercased()
        for service in allCases {
            let prefix = service.pathPrefix.lowercased()
            if prefix.hasSuffix("/") {
                if lowered.hasPrefix(prefix) || lowered == String(prefix.dropLast()) { return service }
            } else if lowered == prefix || lowered.hasPrefix(prefix + "/") {
                return service
            }
        }
        return nil
    }

    /// The request headers (and cookie) Exchange uses to pin a mailbox to a server. The proxy must pass
    /// them to the backend untouched, and never let them choose the backend by themselves.
    public static let affinityHeaders = ["X-AnchorMailbox", "X-PreferServerAffinity", "X-BackEndOverrideCookie"]

    /// The affinity headers this service's clients send (empty when the service uses none).
    public var affinityHeaders: [String] {
        switch self {
        case .ews, .autodiscover, .mapi, .rpc, .activesync, .owa, .ecp, .oab, .api:
            return Self.affinityHeaders
        case .powershell:
            return []
        }
    }

    /// Whether clients of this service log on with Windows authentication (NTLM or Negotiate),
    /// which Extended Protection binds to the TLS channel: Outlook (MAPI, RPC, EWS, OAB,
    /// Autodiscover), ActiveSync devices, remote PowerShell and the REST API. OWA and ECP use
    /// forms logon by default.
    public var usesWindowsAuthentication: Bool {
        switch self {
        case .owa, .ecp: return false
        case .autodiscover, .ews, .activesync, .mapi, .oab, .rpc, .powershell, .api: return true
        }
    }
}
