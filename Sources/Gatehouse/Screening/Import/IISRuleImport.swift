import Foundation
import GatehouseScreening

/// `gatehouse rules import`: converts the inbound IIS URL Rewrite rules that Microsoft's mitigation
/// scripts write (EOMT, EOMTv2, EEMS) into a Gatehouse rule pack.
///
/// All or nothing: a rule, condition or action that a pack cannot express exactly (a Rewrite or
/// Redirect action, server variables, an input it does not know) is refused, naming the rule and
/// its line, and no pack is produced. Every rule is either converted or named in the refusal;
/// disabled rules (which IIS does not run either) are named in the notes.
public enum IISRuleImport {
    /// One thing that could not be converted, at a line of the XML file.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        /// The IIS rule's name, when the problem is inside a rule.
        public var rule: String?
        public var message: String
        public var description: String {
            (rule.map { "rule '\($0)': " } ?? "") + message
        }
    }

    /// The conversion failed; nothing may be written.
    public struct Failure: Error, Sendable {
        public var problems: [Problem]
    }

    /// A converted pack.
    public struct Result: Sendable {
        /// The pack file's text.
        public var yaml: String
        /// Rules converted.
        public var ruleCount: Int
        /// What was converted with a caveat, or skipped because IIS does not run it.
        public var notes: [Problem]
    }

    /// Converts the rewrite rules in `xml` (the content of `sourceName`) into a pack named `pack`.
    public static func convert(xml: Data, sourceName: String, pack: String, version: String?) throws(Failure) -> Result {
        guard RulePackLoader.isIdentifier(pack) else {
            throw Failure(problems: [
                Problem(
                    line: 0, rule: nil,
                    message: "invalid pack name '\(pack)': use letters, digits, '-', '_' and '.' (at most 64)")
            ])
        }
        let document = try IISRewriteDocument.parse(xml)
        var problems: [Problem] = []
        var notes: [Problem] = []
        for section in document.unsupportedSections {
            problems.append(
                Problem(
                    line: section.line, rule: nil,
                    message:
                        "<\(section.name)> is not converted: a rule pack only refuses requests (inbound rules with "
                        + "AbortRequest or CustomResponse); remove it from the file you import, or import the rules section only"))
        }
        if !document.sawRewrite || document.rules.isEmpty {
            problems.append(
                Problem(
                    line: 0, rule: nil,
                    message:
                        "no <system.webServer><rewrite><rules> (or <globalRules>) with a <rule> was found"))
        }
        var rules: [String] = []
        var usedIDs: Set<String> = []
        for rule in document.rules {
            if rule.attributes["enabled"]?.lowercased() == "false" {
                notes.append(Problem(line: rule.line, rule: rule.name, message: "skipped: enabled=\"false\" (IIS does not run it)"))
                continue
            }
            var converter = RuleConverter(rule: rule)
            if let text = converter.convert(id: uniqueID(rule.name, used: &usedIDs), source: sourceName) {
                rules.append(text)
            }
            problems += converter.problems
            notes += converter.notes
        }
        guard problems.isEmpty else { throw Failure(problems: problems.sorted { $0.line < $1.line }) }

        var yaml = """
            # Converted by `gatehouse rules import` from \(sourceName) (IIS URL Rewrite inbound rules).
            # Review before use; `gatehouse check` validates it with the configuration that lists it under
            # screening: { packs: [...] }.

            """
        // The notes travel with the pack too, so a reader of the file sees what was left behind.
        for note in notes {
            yaml += "# note: \(sourceName) line \(note.line): \(note.description)\n"
        }
        if !notes.isEmpty { yaml += "\n" }
        yaml += "pack: \(pack)\n"
        if let version { yaml += "version: \(quoted(version))\n" }
        yaml += "rules:\n"
        yaml += rules.joined(separator: "\n")
        // The output must load as a pack: anything else is this converter's bug, never the user's.
        let check = DiagnosticCollector(file: "(converted pack)")
        if RulePackLoader(collector: check, path: "(converted pack)").parse(yaml: yaml) == nil {
            throw Failure(
                problems: check.errors.map { Problem(line: 0, rule: nil, message: "internal: the converted pack does not load: \($0)") })
        }
        return Result(yaml: yaml, ruleCount: rules.count, notes: notes)
    }

    /// A pack id from an IIS rule name: lower case, runs of other characters as '-', unique.
    static func uniqueID(_ name: String, used: inout Set<String>) -> String {
        var slug = ""
        for character in name.lowercased() {
            if character.isASCII && (character.isLetter || character.isNumber) {
                slug.append(character)
            } else if !slug.isEmpty, slug.last != "-" {
                slug.append("-")
            }
        }
        while slug.last == "-" { slug.removeLast() }
        if slug.isEmpty { slug = "rule" }
        slug = String(slug.prefix(56))
        var candidate = slug
        var counter = 2
        while used.contains(candidate) {
            candidate = "\(slug)-\(counter)"
            counter += 1
        }
        used.insert(candidate)
        return candidate
    }

    /// A YAML single-quoted scalar (backslashes stay as they are; `'` doubles).
    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}

/// Converts one IIS rule, collecting every problem rather than stopping at the first.
struct RuleConverter {
    let rule: IISRewriteDocument.Rule
    var problems: [IISRuleImport.Problem] = []
    var notes: [IISRuleImport.Problem] = []

    init(rule: IISRewriteDocument.Rule) { self.rule = rule }

    private mutating func refuse(_ message: String, line: Int? = nil) {
        problems.append(IISRuleImport.Problem(line: line ?? rule.line, rule: rule.name, message: message))
    }

    /// The rule's pack text (a `- id:` item), or nil with problems recorded.
    mutating func convert(id: String, source: String) -> String? {
        let syntax = rule.attributes["patternSyntax"] ?? "ECMAScript"
        if syntax != "ECMAScript" {
            refuse("patternSyntax=\"\(syntax)\" is not converted (only ECMAScript regular expressions, IIS's default, map onto PCRE2)")
        }
        checkMatch()
        for (name, line) in rule.unsupported {
            refuse("<\(name)> is not converted: a rule pack cannot set server variables or change the request", line: line)
        }
        let action = convertAction()
        var conditions: [String] = []
        for condition in rule.conditions {
            if let text = convertCondition(condition) { conditions.append(text) }
        }
        let grouping = rule.conditionsAttributes["logicalGrouping"] ?? "MatchAll"
        if grouping != "MatchAll" && grouping != "MatchAny" {
            refuse("logicalGrouping=\"\(grouping)\" is not MatchAll or MatchAny")
        }
        if rule.conditions.isEmpty {
            refuse("the rule has no <conditions>, so it would refuse every request; Gatehouse refuses such a rule")
        }
        guard problems.isEmpty, let action else { return nil }
        var text = "  - id: \(id)\n"
        text += "    reference: \(IISRuleImport.quoted("IIS rule '\(rule.name)' (\(source) line \(rule.line))"))\n"
        if conditions.count == 1 {
            text += "    match: \(conditions[0])\n"
        } else {
            text += "    match:\n      \(grouping == "MatchAny" ? "any" : "all"):\n"
            for condition in conditions { text += "        - \(condition)\n" }
        }
        text += "    action: \(action)\n"
        return text
    }

    /// `<match url>` must match every URL: IIS's {URL} (the site-relative path without its leading
    /// '/') has no exact counterpart among the pack keys.
    private mutating func checkMatch() {
        guard let match = rule.match else {
            refuse("the rule has no <match url=...>")
            return
        }
        let url = match["url"] ?? ""
        let matchesEverything = [".*", "(.*)", "^.*$", "^(.*)$", ".*$", "^.*"].contains(url)
        if !matchesEverything {
            refuse(
                "<match url=\"\(url)\"> is not converted: Gatehouse has no key for IIS's {URL}; write the test as a "
                    + "condition on {REQUEST_URI} or {UrlDecode:{REQUEST_URI}} with <match url=\".*\" />")
        }
        if match["negate"]?.lowercased() == "true" {
            refuse("<match negate=\"true\"> is not converted (with url=\".*\" it would match nothing)")
        }
    }

    /// `abort`, `deny` or `{ status: N }`.
    private mutating func convertAction() -> String? {
        guard let action = rule.action else {
            refuse("the rule has no <action>")
            return nil
        }
        let line = rule.actionLine
        switch action["type"] ?? "" {
        case "AbortRequest":
            return "abort"
        case "CustomResponse":
            guard let text = action["statusCode"], let code = Int(text), (400...599).contains(code) else {
                refuse(
                    "CustomResponse statusCode=\"\(action["statusCode"] ?? "")\" is not converted: a pack answers "
                        + "with a status from 400 to 599", line: line)
                return nil
            }
            let extras = ["subStatusCode", "statusReason", "statusDescription"].filter { action[$0] != nil }
            if !extras.isEmpty {
                notes.append(
                    IISRuleImport.Problem(
                        line: line, rule: rule.name,
                        message:
                            "\(extras.joined(separator: ", ")) not carried over: Gatehouse answers with the status's standard text"))
            }
            return code == 403 ? "deny" : "{ status: \(code) }"
        case let other:
            refuse(
                "action type=\"\(other)\" is not converted: a rule pack only refuses requests "
                    + "(AbortRequest, CustomResponse); Rewrite, Redirect and None change or pass the request", line: line)
            return nil
        }
    }

    /// One `<add input pattern negate ignoreCase>` as a flow mapping, e.g. `{ decoded_uri: '...' }`.
    private mutating func convertCondition(_ condition: IISRewriteDocument.Condition) -> String? {
        let attributes = condition.attributes
        let line = condition.line
        let input = attributes["input"] ?? ""
        if let matchType = attributes["matchType"], matchType != "Pattern" {
            refuse("condition matchType=\"\(matchType)\" is not converted (only Pattern)", line: line)
            return nil
        }
        guard let pattern = attributes["pattern"] else {
            refuse("condition on \(input) has no pattern", line: line)
            return nil
        }
        let caseSensitive = attributes["ignoreCase"]?.lowercased() == "false"
        do {
            _ = try Pattern(pattern, caseInsensitive: !caseSensitive)
        } catch {
            refuse("condition pattern \(IISRuleImport.quoted(pattern)) is not a PCRE2 pattern: \(error)", line: line)
            return nil
        }
        let quotedPattern = IISRuleImport.quoted(pattern)
        var test: String
        switch input {
        case "{REQUEST_URI}": test = "uri: \(quotedPattern)"
        case "{UrlDecode:{REQUEST_URI}}": test = "decoded_uri: \(quotedPattern)"
        case "{UrlDecode:{QUERY_STRING}}": test = "query: \(quotedPattern)"
        case "{REQUEST_METHOD}": test = "method: \(quotedPattern)"
        case "{QUERY_STRING}":
            refuse(
                "input {QUERY_STRING} (the raw query) is not converted: the pack key 'query' is the decoded query; "
                    + "if the pattern means the same decoded, change the input to {UrlDecode:{QUERY_STRING}}", line: line)
            return nil
        default:
            guard input.hasPrefix("{HTTP_"), input.hasSuffix("}"), input.count > 7 else {
                refuse(
                    "input \(input.isEmpty ? "(none)" : input) is not converted: known inputs are {REQUEST_URI}, "
                        + "{UrlDecode:{REQUEST_URI}}, {UrlDecode:{QUERY_STRING}}, {REQUEST_METHOD}, {HTTP_COOKIE} and {HTTP_<NAME>}",
                    line: line)
                return nil
            }
            let variable = input.dropFirst("{HTTP_".count).dropLast()
            // IIS server variables that look like headers but are not: the raw URL, method, version.
            if ["URL", "METHOD", "VERSION"].contains(variable.uppercased()) {
                refuse("input \(input) is IIS's server variable, not a request header; it is not converted", line: line)
                return nil
            }
            guard variable.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                refuse("input \(input) is not a plain header variable", line: line)
                return nil
            }
            // IIS names request headers HTTP_<NAME> with '-' as '_'.
            let header = variable.lowercased().replacingOccurrences(of: "_", with: "-")
            test = "header: { name: \(header), pattern: \(quotedPattern) }"
        }
        if caseSensitive { test += ", case_sensitive: true" }
        let negate = attributes["negate"]?.lowercased() == "true"
        return negate ? "{ not: { \(test) } }" : "{ \(test) }"
    }
}
