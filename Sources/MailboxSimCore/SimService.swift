/// The Exchange virtual directories the simulator answers, named as in a config's `preset:`.
public enum SimService: String, CaseIterable, Sendable, Comparable {
    case autodiscover
    case ews
    case activesync
    case owa
    case ecp
    case mapi
    case oab
    case rpc
    case powershell
    case api

    /// The virtual directory as Exchange spells it (paths match case-insensitively).
    public var virtualDirectory: String {
        switch self {
        case .autodiscover: "autodiscover"
        case .ews: "EWS"
        case .activesync: "Microsoft-Server-ActiveSync"
        case .owa: "owa"
        case .ecp: "ecp"
        case .mapi: "mapi"
        case .oab: "OAB"
        case .rpc: "rpc"
        case .powershell: "powershell"
        case .api: "API"
        }
    }

    /// Whether Exchange serves `/<vdir>/healthcheck.htm` for this service (not for PowerShell or REST).
    public var hasHealthCheck: Bool { self != .powershell && self != .api }

    /// Paths a connection must be authenticated for when the simulator runs with `--require-ntlm`.
    public var isProtected: Bool { self == .ews || self == .mapi || self == .oab || self == .rpc }

    /// The service for a `service=` maintenance parameter: the preset name or the virtual directory,
    /// any case (`ews`, `EWS`, `activesync`, `Microsoft-Server-ActiveSync`).
    public static func named(_ text: String) -> SimService? {
        let lower = text.lowercased()
        return allCases.first { $0.rawValue == lower || $0.virtualDirectory.lowercased() == lower }
    }

    /// The service whose virtual directory `path` (without query) lies in, case-insensitively.
    /// `/EWS` and `/EWS/...` are EWS; `/EWSX` is not.
    public static func owning(path: String) -> SimService? {
        let lower = path.lowercased()
        return allCases.first { service in
            let prefix = "/" + service.virtualDirectory.lowercased()
            guard lower.hasPrefix(prefix) else { return false }
            let rest = lower.dropFirst(prefix.count)
            return rest.isEmpty || rest.hasPrefix("/")
        }
    }

    /// The service whose health check `path` is (`/ews/healthcheck.htm`), if it is one.
    public static func healthCheck(path: String) -> SimService? {
        let lower = path.lowercased()
        return allCases.first { $0.hasHealthCheck && lower == "/\($0.virtualDirectory.lowercased())/healthcheck.htm" }
    }

    public static func < (lhs: SimService, rhs: SimService) -> Bool { lhs.rawValue < rhs.rawValue }
}
