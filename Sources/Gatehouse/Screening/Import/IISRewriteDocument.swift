import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The inbound IIS URL Rewrite rules of a web.config or applicationHost.config, as written: what
/// `IISRuleImport` converts. Read with Foundation's XMLParser (libxml2 underneath), never by hand.
struct IISRewriteDocument {
    /// One `<add>` of a rule's `<conditions>`.
    struct Condition {
        var line: Int
        var attributes: [String: String]
    }

    /// One `<rule>` under `<rewrite><rules>` or `<globalRules>`.
    struct Rule {
        var line: Int
        var attributes: [String: String]
        var match: [String: String]?
        var conditionsAttributes: [String: String] = [:]
        var conditions: [Condition] = []
        var action: [String: String]?
        var actionLine = 0
        /// Child elements Gatehouse cannot express (`serverVariables`...), with their lines.
        var unsupported: [(name: String, line: Int)] = []

        var name: String { attributes["name"] ?? "(unnamed)" }
    }

    var rules: [Rule] = []
    /// Sections outside inbound rules that change request handling (`outboundRules`...), with lines.
    var unsupportedSections: [(name: String, line: Int)] = []
    /// Whether a `<rewrite>` section was found at all.
    var sawRewrite = false

    /// Parses `data`; throws with the parser's line and message when the XML is not well formed.
    static func parse(_ data: Data) throws(IISRuleImport.Failure) -> IISRewriteDocument {
        let parser = XMLParser(data: data)
        let reader = Reader(parser: parser)
        parser.delegate = reader
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        let finished = parser.parse()
        // Foundation's parser on Linux can return true for a document whose tags do not balance, so
        // the reader's own element stack is checked too.
        if !finished || reader.failure != nil || !reader.path.isEmpty {
            let message =
                reader.failure?.message
                ?? parser.parserError.map { "\($0.localizedDescription)" }
                ?? "element <\(reader.path.last ?? "?")> is never closed"
            throw IISRuleImport.Failure(problems: [
                IISRuleImport.Problem(
                    line: reader.failure?.line ?? parser.lineNumber, rule: nil,
                    message: "cannot read the XML: \(message)")
            ])
        }
        return reader.document
    }

    /// The XMLParser delegate: keeps the element path and fills the document.
    private final class Reader: NSObject, XMLParserDelegate {
        let parser: XMLParser
        var document = IISRewriteDocument()
        var path: [String] = []
        var current: Rule?

        init(parser: XMLParser) { self.parser = parser }

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            let line = parser.lineNumber
            defer { path.append(name) }
            let parent = path.last
            let grandparent = path.count >= 2 ? path[path.count - 2] : nil
            let underRewrite = path.count >= 3 && path[path.count - 2] == "rewrite" && path[path.count - 3] == "system.webServer"
            if name == "rewrite", parent == "system.webServer" {
                document.sawRewrite = true
            } else if parent == "rewrite", grandparent == "system.webServer" {
                if name == "outboundRules" || name == "rewriteMaps" || name == "providers" {
                    document.unsupportedSections.append((name, line))
                }
            } else if var rule = current {
                // Inside a rule: its parts.
                switch (parent, name) {
                case ("rule", "match"): rule.match = attributes
                case ("rule", "conditions"): rule.conditionsAttributes = attributes
                case ("conditions", "add"): rule.conditions.append(Condition(line: line, attributes: attributes))
                case ("rule", "action"):
                    rule.action = attributes
                    rule.actionLine = line
                case ("conditions", _), ("rule", _):
                    rule.unsupported.append((name, line))
                default:
                    break
                }
                current = rule
            } else if underRewrite, parent == "rules" || parent == "globalRules" {
                if name == "rule" {
                    current = Rule(line: line, attributes: attributes)
                } else if name == "remove" {
                    document.unsupportedSections.append(("\(parent!)/remove", line))
                }
            }
        }

        /// The first well-formedness problem seen, with its line.
        var failure: (line: Int, message: String)?

        func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
            if failure == nil { failure = (parser.lineNumber, "not well-formed XML (\(parseError.localizedDescription))") }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard path.last == name else {
                if failure == nil {
                    failure = (parser.lineNumber, "</\(name)> closes <\(path.last ?? "nothing")>: the tags do not balance")
                }
                parser.abortParsing()
                return
            }
            path.removeLast()
            if name == "rule", let rule = current, path.last == "rules" || path.last == "globalRules" {
                document.rules.append(rule)
                current = nil
            }
        }
    }
}
