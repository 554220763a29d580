import Foundation
import GatehouseScreening
import Yams

/// Reads and validates one rule-pack file in full: every key known, every id unique, every pattern
/// compiled (PCRE2, JIT). Problems go to a `DiagnosticCollector` naming the pack file with line and
/// column, so `gatehouse check` and start report them like configuration errors.
struct RulePackLoader {
    let collector: DiagnosticCollector
    /// The pack file's absolute path.
    let path: String

    static let topKeys = ["pack", "version", "rules"]
    static let ruleKeys = ["id", "reference", "match", "action"]
    static let matchKeys = [
        "decoded_uri", "uri", "path", "query", "method", "header", "client", "not", "any", "all", "case_sensitive"
    ]
    static let fieldKeys: [String: ScreeningField] = [
        "decoded_uri": .decodedURI, "uri": .uri, "path": .path, "query": .query, "method": .method
    ]

    /// Loads the pack at `path`; nil when it has any error (all recorded in `collector`).
    static func load(path: String, collector: DiagnosticCollector) -> RulePack? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            collector.error(
                "cannot read the rule pack: it does not exist or is not UTF-8 text", at: nil,
                hint: "pack paths are relative to the folder of the configuration file")
            return nil
        }
        return RulePackLoader(collector: collector, path: path).parse(yaml: text)
    }

    /// Parses pack text; nil when there is any error.
    func parse(yaml: String) -> RulePack? {
        guard
            let root = GatehouseConfiguration.composeYAMLRoot(
                yaml, collector: collector, empty: "the rule pack is empty",
                template: "conf/screening/exchange-mitigations.yaml",
                syntaxHint: { _, _ in "check the indentation, and quote patterns (single quotes keep '\\' as it is)" })
        else { return nil }
        let errorsBefore = collector.errors.count
        guard let top = mapping(root, place: "the pack", known: Self.topKeys) else { return nil }
        let name = top["pack"].flatMap { string($0, place: "'pack'") }
        if let nameNode = top["pack"], let name, !Self.isIdentifier(name) {
            collector.error(
                "invalid pack name '\(name)'", at: nameNode.mark,
                hint: "use letters, digits, '-', '_' and '.' (at most 64)")
        }
        if name == nil, top["pack"] == nil {
            collector.error(
                "missing key 'pack' (the pack's name) at the top of the pack", at: root.mark,
                hint: "e.g. pack: exchange-mitigations")
        }
        let version = top["version"].flatMap { string($0, place: "'version'") }
        var rules: [ScreeningRule] = []
        if let rulesNode = top["rules"] {
            if let items = rulesNode.sequence {
                var seen: [String: Int] = [:]
                for (index, item) in items.enumerated() {
                    if let rule = self.rule(item, index: index, pack: name ?? "?", seen: &seen) { rules.append(rule) }
                }
                if items.isEmpty {
                    collector.warning("the pack has no rules", at: rulesNode.mark)
                }
            } else {
                collector.error("'rules' must be a list of rules", at: rulesNode.mark, hint: "write one '- id: ...' item per rule")
            }
        } else {
            collector.error("missing key 'rules' at the top of the pack", at: root.mark)
        }
        guard collector.errors.count == errorsBefore, let name else { return nil }
        return RulePack(name: name, version: version, path: path, rules: rules)
    }

    /// One `rules:` item.
    private func rule(_ node: Node, index: Int, pack: String, seen: inout [String: Int]) -> ScreeningRule? {
        let label = node.mapping?["id"]?.scalar.map { "rule '\($0.string)'" } ?? "rule #\(index + 1)"
        guard let fields = mapping(node, place: label, known: Self.ruleKeys) else { return nil }
        var id: String?
        if let idNode = fields["id"], let value = string(idNode, place: "'id' of \(label)") {
            if !Self.isIdentifier(value) {
                collector.error(
                    "invalid rule id '\(value)'", at: idNode.mark,
                    hint: "use letters, digits, '-', '_' and '.' (at most 64)")
            } else if let line = seen[value] {
                collector.error(
                    "duplicate rule id '\(value)' (first used at line \(line))", at: idNode.mark,
                    hint: "ids are unique within a pack: logs name a rule as <pack>/<id>")
            } else {
                seen[value] = idNode.mark?.line ?? 0
                id = value
            }
        } else if fields["id"] == nil {
            collector.error("missing key 'id' in \(label)", at: node.mark, hint: "give each rule a unique id, e.g. id: eems-m1")
        }
        let reference = fields["reference"].flatMap { string($0, place: "'reference' of \(label)") }
        var condition: ScreeningCondition?
        if let matchNode = fields["match"] {
            condition = matchBlock(matchNode, place: "'match' of \(label)", caseSensitive: false)
        } else {
            collector.error(
                "missing key 'match' in \(label)", at: node.mark,
                hint: "e.g. match: { decoded_uri: '(?=.*autodiscover)(?=.*powershell)' }")
        }
        var action: ScreeningAction?
        if let actionNode = fields["action"] {
            action = self.action(actionNode, place: "'action' of \(label)")
        } else {
            collector.error("missing key 'action' in \(label)", at: node.mark, hint: "deny, abort, or { status: 4xx/5xx }")
        }
        guard let id, let condition, let action else { return nil }
        return ScreeningRule(id: id, reference: reference, condition: condition, action: action, label: "\(pack)/\(id)")
    }

    /// `deny`, `abort` or `{ status: N }`.
    private func action(_ node: Node, place: String) -> ScreeningAction? {
        if let scalar = node.scalar {
            switch scalar.string {
            case "deny": return .deny
            case "abort": return .abort
            default:
                collector.error(
                    "unknown action '\(scalar.string)' for \(place)", at: node.mark,
                    hint: "use deny (403), abort (no response), or { status: 4xx/5xx }")
                return nil
            }
        }
        guard let fields = mapping(node, place: place, known: ["status"]) else { return nil }
        guard let statusNode = fields["status"] else {
            collector.error("\(place) needs 'status'", at: node.mark, hint: "e.g. action: { status: 451 }")
            return nil
        }
        guard let code = statusNode.scalar.flatMap({ Int($0.string) }), (400...599).contains(code) else {
            collector.error(
                "'status' of \(place) must be a status code from 400 to 599", at: statusNode.mark,
                hint: "a screening rule refuses a request; use abort to send no response at all")
            return nil
        }
        return .status(code)
    }

    /// A match mapping: every key given must hold.
    private func matchBlock(_ node: Node, place: String, caseSensitive inherited: Bool) -> ScreeningCondition? {
        guard let fields = mapping(node, place: place, known: Self.matchKeys) else { return nil }
        var caseSensitive = inherited
        if let flag = fields["case_sensitive"] {
            if let value = flag.bool {
                caseSensitive = value
            } else {
                collector.error("'case_sensitive' of \(place) must be true or false", at: flag.mark)
            }
        }
        var conditions: [ScreeningCondition] = []
        // An unknown key is reported by `mapping`; the block is then not also "without condition".
        var failed = node.mapping!.keys.contains { !Self.matchKeys.contains($0.scalar?.string ?? "") }
        for (keyNode, value) in node.mapping! {
            guard let key = keyNode.scalar?.string, key != "case_sensitive" else { continue }
            let keyPlace = "'\(key)' in \(place)"
            var condition: ScreeningCondition?
            if let field = Self.fieldKeys[key] {
                condition = pattern(value, place: keyPlace, caseSensitive: caseSensitive).map { .matches(field, $0) }
            } else {
                switch key {
                case "header": condition = header(value, place: keyPlace, caseSensitive: caseSensitive)
                case "client": condition = client(value, place: keyPlace)
                case "not":
                    condition = matchBlock(value, place: keyPlace, caseSensitive: caseSensitive).map { .not($0) }
                case "any", "all":
                    guard let items = value.sequence, !items.isEmpty else {
                        collector.error(
                            "\(keyPlace) must be a non-empty list of match mappings", at: value.mark,
                            hint: "e.g. \(key): [ { uri: 'a' }, { uri: 'b' } ]")
                        failed = true
                        continue
                    }
                    var parts: [ScreeningCondition] = []
                    for (index, item) in items.enumerated() {
                        if let part = matchBlock(item, place: "item \(index + 1) of \(keyPlace)", caseSensitive: caseSensitive) {
                            parts.append(part)
                        } else {
                            failed = true
                        }
                    }
                    condition = key == "any" ? .any(parts) : .all(parts)
                default:
                    continue  // reported by `mapping` as unknown
                }
            }
            if let condition { conditions.append(condition) } else { failed = true }
        }
        if conditions.isEmpty, !failed {
            collector.error(
                "\(place) has no condition, so it would match every request", at: node.mark,
                hint: "give at least one of: " + Self.matchKeys.filter { $0 != "case_sensitive" }.joined(separator: ", "))
            return nil
        }
        if failed { return nil }
        return conditions.count == 1 ? conditions[0] : .all(conditions)
    }

    /// `header: { name: X-Foo, pattern: '...' }`
    private func header(_ node: Node, place: String, caseSensitive: Bool) -> ScreeningCondition? {
        guard let fields = mapping(node, place: place, known: ["name", "pattern"]) else { return nil }
        guard let nameNode = fields["name"], let patternNode = fields["pattern"] else {
            collector.error(
                "\(place) needs 'name' and 'pattern'", at: node.mark,
                hint: "e.g. header: { name: Cookie, pattern: 'X-AnonResource-Backend' }")
            return nil
        }
        guard let name = string(nameNode, place: "'name' of \(place)") else { return nil }
        guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
            collector.error("'\(name)' is not a header name", at: nameNode.mark, hint: "e.g. Cookie, X-Rps-CAT")
            return nil
        }
        return pattern(patternNode, place: "'pattern' of \(place)", caseSensitive: caseSensitive)
            .map { .matches(.header(name.lowercased()), $0) }
    }

    /// `client: [10.0.0.0/8, "::1/128"]` (or one network).
    private func client(_ node: Node, place: String) -> ScreeningCondition? {
        let items = node.sequence.map(Array.init) ?? [node]
        var networks: [IPNetwork] = []
        for item in items {
            guard let text = string(item, place: place) else { return nil }
            do {
                networks.append(try IPNetwork(text))
            } catch {
                collector.error("\(error) in \(place)", at: item.mark, hint: "write e.g. 10.0.0.0/8 or \"2001:db8::/32\"")
                return nil
            }
        }
        guard !networks.isEmpty else {
            collector.error("\(place) lists no network", at: node.mark)
            return nil
        }
        return .client(networks)
    }

    /// A compiled pattern, or nil with PCRE2's message at the pattern's line and column.
    private func pattern(_ node: Node, place: String, caseSensitive: Bool) -> Pattern? {
        guard let source = string(node, place: place) else { return nil }
        do {
            return try Pattern(source, caseInsensitive: !caseSensitive)
        } catch {
            // Point at the offending character: past the opening quote, then PCRE2's offset
            // (exact for plain and single-quoted patterns without escapes).
            let quote = node.scalar.map { $0.style == .singleQuoted || $0.style == .doubleQuoted ? 1 : 0 } ?? 0
            collector.error(
                "invalid pattern for \(place): \(error.description)", line: node.mark?.line ?? 0,
                column: (node.mark?.column ?? 0) + quote + error.offset,
                hint: "patterns are PCRE2 regular expressions; quote them with single quotes")
            return nil
        }
    }

    /// A mapping's entries by key, reporting unknown keys; nil (with an error) when not a mapping.
    private func mapping(_ node: Node, place: String, known: [String]) -> [String: Node]? {
        guard let mapping = node.mapping else {
            collector.error("\(place) must be a mapping of 'key: value' lines", at: node.mark)
            return nil
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else {
                collector.error("keys in \(place) must be plain names", at: keyNode.mark)
                continue
            }
            if !known.contains(key) {
                collector.error("unknown key '\(key)' in \(place)", at: keyNode.mark, hint: Spelling.hint(for: key, among: known))
            }
            result[key] = value
        }
        return result
    }

    /// A scalar's text, or nil with an error when the node is a list or mapping.
    private func string(_ node: Node, place: String) -> String? {
        guard let scalar = node.scalar else {
            collector.error("\(place) must be a single value", at: node.mark)
            return nil
        }
        return scalar.string
    }

    static func isIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

extension RulePack {
    /// Loads and validates one pack file on its own (tools and benchmarks; a configuration loads
    /// its packs through `screening:`). Throws every problem found, with file:line:column.
    public static func load(path: String) throws(ConfigError) -> RulePack {
        let collector = DiagnosticCollector(file: path)
        guard let pack = RulePackLoader.load(path: path, collector: collector) else {
            throw ConfigError(diagnostics: collector.sorted(collector.errors), warnings: collector.warnings)
        }
        return pack
    }
}
