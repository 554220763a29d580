/// Host-name patterns (`owa.contoso.lab`, `*.contoso.lab`) mapped to values, looked up by an SNI
/// name with exactly the rules certificate selection uses (`HostNameMatching`): an exact name
/// first, then a wildcard covering one left-most label, never a public suffix. A pass-through
/// listener chooses its backend pool with it, so a host reaches the pool by the same rule that
/// would have chosen its certificate had the listener terminated TLS.
public struct ServerNameTable<Value: Sendable>: Sendable {
    private var exact: [String: Value] = [:]
    private var wildcards: [String: Value] = [:]

    /// An empty table.
    public init() {}

    /// Why a pattern cannot be added.
    public enum PatternError: Error, Equatable, Sendable {
        /// Not a host name `HostNameMatching` accepts (malformed, IP literal, bad wildcard,
        /// wildcard over a public suffix).
        case invalid
        /// The same pattern is already in the table.
        case duplicate
    }

    /// Adds `pattern` → `value`.
    public mutating func add(_ pattern: String, value: Value) throws(PatternError) {
        switch HostNameMatching.presented(pattern) {
        case .exact(let name)?:
            guard exact[name] == nil else { throw .duplicate }
            exact[name] = value
        case .wildcard(let base)?:
            guard wildcards[base] == nil else { throw .duplicate }
            wildcards[base] = value
        case nil:
            throw .invalid
        }
    }

    /// Whether `pattern` is a name or wildcard this table can hold.
    public static func isValidPattern(_ pattern: String) -> Bool { HostNameMatching.presented(pattern) != nil }

    /// The value for an SNI host name: its exact entry, else the wildcard over its parent domain;
    /// nil when neither exists or the name is not a DNS name.
    public func lookup(_ serverName: String) -> Value? {
        guard let host = HostNameMatching.normalizedDNSName(serverName) else { return nil }
        if let value = exact[host] { return value }
        guard let parent = HostNameMatching.parentDomain(host) else { return nil }
        return wildcards[String(parent)]
    }
}
