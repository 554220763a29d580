/// Chooses the subjectAltName list for a certificate request from the host names a listener serves,
/// and says why each name is there: what `gatehouse cert request --config` prints.
public enum SANPlanner {
    /// One planned name and the reason it was included.
    public struct Entry: Sendable, Equatable, CustomStringConvertible {
        public var name: String
        public var reason: String
        public init(name: String, reason: String) {
            self.name = name
            self.reason = reason
        }
        public var description: String { "\(name)  (\(reason))" }
    }

    /// Plans the SANs for `hostNames`.
    ///
    /// Names are lower-cased and de-duplicated in first-seen order. With `useWildcard`, names that
    /// share one parent domain with at least one sibling are replaced by `*.<parent>` (which covers
    /// exactly one left-most label, never a TLD); names that a wildcard cannot cover (the bare parent
    /// itself, deeper names, single-label names, names directly under a TLD) stay as they are.
    /// Names already covered by a wildcard given in `hostNames` are dropped as redundant.
    /// - Parameter origins: why each host name is wanted at all (lower-case name -> phrase such as
    ///   "served by listener https (service owa)"); names without one are "requested".
    /// - Returns: `(name, reason)` pairs in a stable order: first the wildcards, then remaining names in input order.
    public static func plan(
        hostNames: [String], useWildcard: Bool,
        origins: [String: String] = [:]
    ) -> [(name: String, reason: String)] {
        planEntries(hostNames: hostNames, useWildcard: useWildcard, origins: origins).map { ($0.name, $0.reason) }
    }

    /// The same plan as `plan(hostNames:useWildcard:origins:)`, as `Entry` values.
    public static func planEntries(hostNames: [String], useWildcard: Bool, origins: [String: String] = [:]) -> [Entry] {
        func origin(_ name: String) -> String { origins[name] ?? "requested" }
        var names: [String] = []
        var seen = Set<String>()
        for raw in hostNames {
            var name = raw.lowercased()
            if name.hasSuffix(".") { name.removeLast() }
            guard !name.isEmpty, seen.insert(name).inserted else { continue }
            names.append(name)
        }
        // Wildcards the listener already serves (e.g. "*.contoso.com") cover their one-label children.
        var wildcards = Set(names.filter { $0.hasPrefix("*.") }.map { String($0.dropFirst(2)) })
        var reasons: [String: String] = [:]
        if useWildcard {
            var children: [String: [String]] = [:]
            for name in names where !name.hasPrefix("*.") {
                if let parent = wildcardParent(of: name) { children[parent, default: []].append(name) }
            }
            for (parent, members) in children where members.count >= 2 && !wildcards.contains(parent) {
                wildcards.insert(parent)
                reasons["*." + parent] = "wildcard covering " + members.map { "\($0) (\(origin($0)))" }.joined(separator: ", ")
            }
        }
        var result: [Entry] = []
        var emitted = Set<String>()
        // Wildcards first, in the order their first member appears.
        for name in names {
            let candidate: String?
            if name.hasPrefix("*.") {
                candidate = name
            } else if let parent = wildcardParent(of: name), wildcards.contains(parent) {
                candidate = "*." + parent
            } else {
                candidate = nil
            }
            if let candidate, emitted.insert(candidate).inserted {
                var reason = reasons[candidate] ?? origin(candidate)
                if reasons[candidate] == nil {
                    // A wildcard from the input: say which listed names it makes redundant.
                    let parent = String(candidate.dropFirst(2))
                    let covered = names.filter { !$0.hasPrefix("*.") && wildcardParent(of: $0) == parent }
                    if !covered.isEmpty { reason += "; also covers \(covered.joined(separator: ", "))" }
                }
                result.append(Entry(name: candidate, reason: reason))
            }
        }
        for name in names where !name.hasPrefix("*.") {
            if let parent = wildcardParent(of: name), wildcards.contains(parent) { continue }
            var reason = origin(name)
            if useWildcard {
                if wildcardParent(of: name) == nil {
                    reason += "; no wildcard may cover it: its parent is a top-level domain or it has a single label"
                } else {
                    reason += "; the only name under its parent, so listed by itself"
                }
            }
            if emitted.insert(name).inserted { result.append(Entry(name: name, reason: reason)) }
        }
        return result
    }

    /// The domain a wildcard `*.<parent>` for `name` would use, or nil when no wildcard may cover it
    /// (a single-label name, or one whose parent would be a top-level domain or another public suffix).
    static func wildcardParent(of name: String) -> String? {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 3 else { return nil }
        let parent = labels.dropFirst().joined(separator: ".")
        // The rule matching applies: never a wildcard over a public suffix (*.co.uk).
        guard HostNameMatching.presented("*." + parent) != nil else { return nil }
        return parent
    }
}
