/// One built-in Exchange deny rule. The raw value is the stable name written to logs and used in
/// configuration to switch the rule off.
///
/// Each rule answers one published front-end attack (ProxyLogon 2021, ProxyShell 2021,
/// ProxyNotShell and OWASSRF 2022) by its request shape, evaluated on the canonical target so
/// case, percent-encoding and dot-segments cannot slip past.
public enum DenyRule: String, Sendable, Hashable, CaseIterable {
    /// The decoded URI (path and query) names both `autodiscover` and `powershell`: Microsoft's
    /// emergency mitigation for ProxyShell and ProxyNotShell.
    case autodiscoverPowershell = "autodiscover_powershell"
    /// The ProxyShell / ProxyNotShell shape of `autodiscover.json`: a query starting with `@` or
    /// carrying a path after an `@`, or an `Email` (query or cookie) containing `autodiscover`.
    case proxyshellAutodiscover = "proxyshell_autodiscover"
    /// Any `X-Rps-CAT` header or query parameter: a forged remote-PowerShell access token.
    case rpsCAT = "rps_cat"
    /// Cookie or header `X-AnonResource-Backend`: ProxyLogon's anonymous backend override.
    case anonResourceBackend = "anon_resource_backend"
    /// Cookie `X-BEResource` carrying more than `server~version` (a `/` path, userinfo, query).
    case beResource = "be_resource"
    /// OWASSRF (CVE-2022-41080): an OWA or ECP explicit logon followed by a virtual directory
    /// (`/owa/<address>/powershell`, `/ecp/<address>/ews/...`), from every client, admin networks
    /// included. Matches whole path segments.
    case explicitLogonVdir = "explicit_logon_vdir"
    /// A remote PowerShell directory (`powershell`, `powershell-liveid`) as a whole path segment: at
    /// the root from a client outside the admin networks, anywhere below the root from every client.
    case externalPowershell = "external_powershell"
    /// `/ecp` (the admin centre) at the root from a client outside the admin networks.
    case ecpAdminOnly = "ecp_admin_only"

    /// This rule's bit in a `DenyRuleSet`.
    var bit: UInt16 {
        switch self {
        case .autodiscoverPowershell: return 1 << 0
        case .proxyshellAutodiscover: return 1 << 1
        case .rpsCAT: return 1 << 2
        case .anonResourceBackend: return 1 << 3
        case .beResource: return 1 << 4
        case .externalPowershell: return 1 << 5
        case .ecpAdminOnly: return 1 << 6
        case .explicitLogonVdir: return 1 << 7
        }
    }
}

/// The set of deny rules switched on for a service: a bit set, so a per-request check is a mask.
public struct DenyRuleSet: Sendable, Hashable {
    var bits: UInt16

    /// Every rule on: the default, as EXCHANGE.md asks.
    public static let all = DenyRuleSet(DenyRule.allCases)
    /// No rule on.
    public static let none = DenyRuleSet([])

    /// A set with exactly `rules` switched on.
    public init(_ rules: some Sequence<DenyRule>) {
        bits = rules.reduce(0) { $0 | $1.bit }
    }

    /// Whether `rule` is switched on.
    public func contains(_ rule: DenyRule) -> Bool { bits & rule.bit != 0 }

    /// Switches `rule` on.
    public mutating func insert(_ rule: DenyRule) { bits |= rule.bit }

    /// Switches `rule` off (configuration: `deny_rules: { ecp_admin_only: false }`).
    public mutating func remove(_ rule: DenyRule) { bits &= ~rule.bit }

    /// The rules switched on, in declaration order.
    public var rules: [DenyRule] { DenyRule.allCases.filter(contains) }
}
