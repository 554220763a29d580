import GatehouseScreening

/// The request value a screening pattern reads (a pack's match keys).
public enum ScreeningField: Sendable, Hashable {
    /// `decoded_uri`: path and query as received, percent-decoded until nothing changes (IIS's
    /// `{UrlDecode:{REQUEST_URI}}`, decoding repeated so a second layer of encoding hides nothing).
    case decodedURI
    /// `uri`: the request target exactly as received (IIS's `{REQUEST_URI}`).
    case uri
    /// `path`: the canonical path (decoded once, dot-segments resolved), as routing sees it.
    case path
    /// `query`: the query, percent-decoded; empty when there is none.
    case query
    /// `method`: the request method.
    case method
    /// `header`: each value of one header (lower-case name); all `Cookie` headers joined with
    /// `; `. An absent header reads as the empty string, as IIS's `{HTTP_*}` variables do.
    case header(String)
}

/// A rule's condition tree, as compiled from its `match:` block.
public indirect enum ScreeningCondition: Sendable {
    /// The field's value matches the pattern.
    case matches(ScreeningField, Pattern)
    /// The client address lies in one of the networks.
    case client([IPNetwork])
    /// Every condition holds (the keys of one `match` mapping, or `all:`).
    case all([ScreeningCondition])
    /// At least one holds (`any:`).
    case any([ScreeningCondition])
    /// The condition does not hold (`not:`).
    case not(ScreeningCondition)
}

/// What a rule does to a request it matches.
public enum ScreeningAction: Sendable, Hashable, CustomStringConvertible {
    /// 403 Forbidden.
    case deny
    /// No response: the HTTP/1.1 connection is closed, the HTTP/2 stream reset (IIS's AbortRequest).
    case abort
    /// A local response with this status (400-599).
    case status(Int)

    public var description: String {
        switch self {
        case .deny: return "deny"
        case .abort: return "abort"
        case .status(let code): return "status \(code)"
        }
    }
}

/// One rule of a pack.
public struct ScreeningRule: Sendable {
    /// Unique within its pack.
    public var id: String
    /// Free text (a CVE, an advisory, the IIS rule it came from).
    public var reference: String?
    public var condition: ScreeningCondition
    public var action: ScreeningAction
    /// `<pack>/<id>`, as logs show it; made once at load.
    public var label: String
}

/// A validated rule pack: every pattern compiled.
public struct RulePack: Sendable {
    /// The pack's name (`pack:`), shown by check and logs.
    public var name: String
    /// The pack's version (`version:`), or nil when it has none.
    public var version: String?
    /// The absolute path of the pack file.
    public var path: String
    /// The rules, in file order (the first that matches decides).
    public var rules: [ScreeningRule]
}

/// The rule packs of a configuration, evaluated in order after the built-in deny rules.
public struct ScreeningPacks: Sendable {
    public let packs: [RulePack]
    /// Every rule of every pack, in evaluation order.
    let rules: [ScreeningRule]
    /// `rules[i].condition`, apart: evaluation walks these without copying whole rules (their
    /// strings would cost a retain and release each per request).
    let conditions: [ScreeningCondition]

    public init(packs: [RulePack]) {
        self.packs = packs
        self.rules = packs.flatMap(\.rules)
        self.conditions = rules.map(\.condition)
    }
}
