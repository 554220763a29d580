import Foundation
import Yams

extension GatehouseConfiguration {
    /// Reads, decodes and validates the YAML configuration at `path`.
    ///
    /// Relative paths inside the file are resolved against the file's folder. Certificate, key and
    /// trust files must exist and be readable (they are parsed later, by the TLS layer).
    /// - Returns: the configuration and the warnings found (each with file, line and column).
    /// - Throws: `ConfigError` with every error found, in file order.
    public static func load(path: String) throws(ConfigError) -> (GatehouseConfiguration, warnings: [ConfigDiagnostic]) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason =
                FileManager.default.fileExists(atPath: path)
                ? "it is not readable UTF-8 text" : "the file does not exist"
            throw ConfigError(diagnostics: [
                ConfigDiagnostic(
                    file: path, line: 0, column: 0, message: "cannot read the configuration file: \(reason)",
                    hint: "pass the path of a YAML file, e.g. --config conf/gatehouse.yaml")
            ])
        }
        return try parse(yaml: text, path: path)
    }

    /// Decodes and validates configuration `yaml` as if it had been read from `path` (which names the
    /// file in diagnostics and anchors relative paths; it need not exist).
    public static func parse(yaml: String, path: String) throws(ConfigError) -> (GatehouseConfiguration, warnings: [ConfigDiagnostic]) {
        let collector = DiagnosticCollector(file: path)
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let validator = ConfigValidator(
            collector: collector, baseDirectory: (absolute as NSString).deletingLastPathComponent, sourcePath: absolute)
        var configuration: GatehouseConfiguration?
        if let root = composeRoot(yaml, collector: collector) {
            let decoder = NodeDecoder(node: root, codingPath: [], collector: collector, section: NodeDecoder.topLevel, key: nil)
            do {
                let document = try ConfigDocument(from: decoder)
                configuration = validator.validate(document, rootMark: root.mark)
            } catch let failure as NodeDecodingFailure {
                collector.error(failure.message, at: failure.mark, hint: failure.hint)
            } catch {
                collector.error("cannot decode the configuration: \(error)", at: root.mark)
            }
        }
        let warnings = collector.sorted(collector.warnings)
        guard let configuration, collector.errors.isEmpty else {
            throw ConfigError(diagnostics: collector.sorted(collector.errors), warnings: warnings)
        }
        return (configuration, warnings)
    }

    /// The document's root node, or nil with the YAML syntax error recorded at its position.
    private static func composeRoot(_ yaml: String, collector: DiagnosticCollector) -> Node? {
        composeYAMLRoot(
            yaml, collector: collector, empty: "the configuration file is empty",
            template: "conf/gatehouse.yaml"
        ) { problem, mark in
            yamlHint(problem, line: line(mark.line, of: yaml))
        }
    }

    /// The root node of a YAML document (a configuration or a rule pack), or nil with the error
    /// recorded at its position: `empty` when there is no document (the hint names `template`), a
    /// syntax error with `syntaxHint`'s advice, a duplicated key where it is.
    static func composeYAMLRoot(
        _ yaml: String, collector: DiagnosticCollector, empty: String, template: String,
        syntaxHint: (_ problem: String, _ mark: Mark) -> String?
    ) -> Node? {
        do {
            guard let root = try Yams.compose(yaml: yaml) else {
                collector.error(empty, at: nil, hint: "start from \(template)")
                return nil
            }
            return root
        } catch let error as YamlError {
            switch error {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                .composer(let context, let problem, let mark, _):
                let detail = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
                collector.error("invalid YAML: \(problem)\(detail)", at: mark, hint: syntaxHint(problem, mark))
            case .reader(let problem, let offset, _, _):
                // libyaml's reader (bytes that are not YAML text) reports a byte offset, not a mark.
                let (line, column) = offset.map { position(ofByte: $0, in: yaml) } ?? (0, 0)
                collector.error(
                    "invalid YAML: \(problem)", line: line, column: column,
                    hint: "the file must be UTF-8 text without control characters (tabs and line breaks are fine)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                collector.error(
                    "duplicate key '\(duplicates.joined(separator: "', '"))' in one mapping", at: context.mark,
                    hint: "each key may appear once per section; merge or remove the repeated one")
            default:
                collector.error("invalid YAML: \(error)", at: nil)
            }
            return nil
        } catch {
            collector.error("invalid YAML: \(error)", at: nil)
            return nil
        }
    }

    /// The 1-based line and column of the byte at `offset` of `text`'s UTF-8, counted as libyaml
    /// counts its marks (so a reader error and a syntax error in one file number lines alike): a
    /// column per Unicode scalar, a line per break, where CR LF is one break and a lone CR, LF, NEL,
    /// LS or PS is one too. Past the end: the position just after the text.
    static func position(ofByte offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var consumed = 0
        var afterCR = false
        for scalar in text.unicodeScalars {
            guard consumed < offset else { break }
            consumed += UTF8.width(scalar)
            switch scalar {
            case "\n":
                if !afterCR { line += 1 }
                column = 1
            case "\r", "\u{85}", "\u{2028}", "\u{2029}":
                line += 1
                column = 1
            default:
                column += 1
            }
            afterCR = scalar == "\r"
        }
        return (line, column)
    }

    /// Line `number` (1-based) of `text`, or "".
    private static func line(_ number: Int, of text: String) -> String {
        var current = 1
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == number { return String(line) }
            current += 1
        }
        return ""
    }

    /// A fix for the YAML mistakes people make most.
    private static func yamlHint(_ problem: String, line: String) -> String? {
        if problem.contains("tab") { return "indent with spaces, not tabs" }
        if line.contains("::") {
            // libyaml (YAML 1.1) cannot read a plain scalar starting with ':' inside [ ... ].
            return "quote IPv6 values, e.g. \"::1/128\" or \"[::]:443\""
        }
        if problem.contains("mapping values are not allowed") {
            return "a value containing ': ' needs quotes, or the indentation is off"
        }
        return "check the indentation and quoting around this position"
    }
}
