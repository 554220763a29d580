import Yams

/// Collects the errors and warnings found in one configuration file, so that all of them are
/// reported together instead of stopping at the first.
final class DiagnosticCollector {
    /// The file name as the user gave it (used in every diagnostic).
    let file: String
    private(set) var errors: [ConfigDiagnostic] = []
    private(set) var warnings: [ConfigDiagnostic] = []

    init(file: String) {
        self.file = file
    }

    /// Records an error at `mark` (the start of the offending key or value).
    func error(_ message: String, at mark: Mark?, hint: String? = nil) {
        errors.append(diagnostic(.error, message, mark, hint))
    }

    /// Records an error at an explicit position (inside a value, e.g. a pattern's bad character).
    func error(_ message: String, line: Int, column: Int, hint: String? = nil) {
        errors.append(ConfigDiagnostic(file: file, line: line, column: column, message: message, hint: hint))
    }

    /// Takes over the errors and warnings of another file's collector (a rule pack's).
    func absorb(_ other: DiagnosticCollector) {
        errors.append(contentsOf: other.errors)
        warnings.append(contentsOf: other.warnings)
    }

    /// Records a warning at `mark`.
    func warning(_ message: String, at mark: Mark?, hint: String? = nil) {
        warnings.append(diagnostic(.warning, message, mark, hint))
    }

    private func diagnostic(_ severity: ConfigDiagnostic.Severity, _ message: String, _ mark: Mark?, _ hint: String?)
        -> ConfigDiagnostic
    {
        ConfigDiagnostic(
            file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, severity: severity, message: message,
            hint: hint)
    }

    /// Errors and warnings sorted by position, each group in file order.
    func sorted(_ list: [ConfigDiagnostic]) -> [ConfigDiagnostic] {
        list.enumerated().sorted { lhs, rhs in
            (lhs.element.line, lhs.element.column, lhs.offset) < (rhs.element.line, rhs.element.column, rhs.offset)
        }.map(\.element)
    }
}

/// A value that could not be decoded. Thrown inside the decoder and recorded by the nearest
/// `decodeIfPresent`, which then yields nil so decoding continues with the next key.
struct NodeDecodingFailure: Error {
    var message: String
    var mark: Mark?
    var hint: String?
}

/// A `Decoder` over a Yams `Node` tree that knows where every value is (line and column) and what
/// it is called in words (`'address' in listener 'https'`), and reports unknown keys.
///
/// Codable's synthesized `init(from:)` drives it. Configuration documents declare every property
/// optional and their `CodingKeys` `CaseIterable`: optional properties decode through
/// `decodeIfPresent`, which records a failure and continues; `CaseIterable` keys let the keyed
/// container compare a mapping's keys with the known ones (Codable itself ignores extra keys).
struct NodeDecoder: Decoder {
    /// The node being decoded.
    let node: Node
    let codingPath: [any CodingKey]
    let collector: DiagnosticCollector
    /// The enclosing section in words: `listener 'https'`, `'tls' of listener 'https'`, `the top level`.
    let section: String
    /// The key this node sits under in `section`, or nil for list items and sections themselves.
    let key: String?
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// This value in words, for messages: `'address' in listener 'https'` or `listener 'https'`.
    var place: String {
        guard let key else { return section }
        return section == Self.topLevel ? "'\(key)'" : "'\(key)' in \(section)"
    }

    /// A failure at this node.
    func failure(_ message: String, hint: String? = nil) -> NodeDecodingFailure {
        NodeDecodingFailure(message: message, mark: node.mark, hint: hint)
    }

    /// What kind of YAML node this is, in words.
    var kindDescription: String {
        switch node {
        case .scalar(let scalar): return node.isNull ? "nothing" : "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else {
            throw failure("\(place) must be a mapping of 'key: value' lines, found \(kindDescription)")
        }
        let known = (Key.self as? any CaseIterable.Type).map { Self.keyNames($0) }
        for (keyNode, _) in mapping {
            guard let name = keyNode.scalar?.string else {
                collector.error("keys in \(mappingPlace) must be plain names", at: keyNode.mark)
                continue
            }
            if let known, !known.contains(name) {
                collector.error(
                    "unknown key '\(name)' in \(mappingPlace)", at: keyNode.mark,
                    hint: Spelling.hint(for: name, among: known))
            }
        }
        return KeyedDecodingContainer(NodeKeyedContainer<Key>(decoder: self, mapping: mapping, isDictionary: known == nil))
    }

    /// The name of the mapping this decoder reads, as its keys' section (`'tls' of listener 'https'`).
    var mappingPlace: String {
        guard let key else { return section }
        return section == Self.topLevel ? "'\(key)'" : "'\(key)' of \(section)"
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else {
            throw failure("\(place) must be a list, found \(kindDescription)", hint: "write [a, b] or one '- item' per line")
        }
        return NodeUnkeyedContainer(decoder: self, elements: Array(sequence))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        NodeSingleValueContainer(decoder: self)
    }

    /// The decoder for the value under `key` of this mapping.
    func child(_ node: Node, key: any CodingKey, isDictionaryEntry: Bool) -> NodeDecoder {
        let name = key.stringValue
        if isDictionaryEntry {
            // `pools: { mailbox: {...} }`: the entry is a named section of its own.
            return NodeDecoder(
                node: node, codingPath: codingPath + [key], collector: collector,
                section: "\(Self.singular(self.key ?? "entry")) '\(name)'", key: nil)
        }
        return NodeDecoder(
            node: node, codingPath: codingPath + [key], collector: collector, section: mappingPlace, key: name)
    }

    /// The decoder for item `index` of this list: named by its `name`, `preset` or `path` when it has one.
    func element(_ node: Node, index: Int) -> NodeDecoder {
        let noun = Self.singular(key ?? "item")
        var label = "#\(index + 1)"
        if case .mapping(let mapping) = node {
            for identifying in ["name", "preset", "path", "cert"] {
                if let value = mapping[identifying]?.scalar?.string {
                    label = "'\(value)'"
                    break
                }
            }
        }
        let owner = section == Self.topLevel ? "" : " of \(section)"
        return NodeDecoder(
            node: node, codingPath: codingPath + [IndexKey(index: index)], collector: collector,
            section: "\(noun) \(label)\(owner)", key: nil)
    }

    /// The section name of the document root.
    static let topLevel = "the top level"

    /// The names of a `CaseIterable` coding-key type (opened from an existential).
    static func keyNames<K: CaseIterable>(_ type: K.Type) -> [String] {
        K.allCases.compactMap { ($0 as? any CodingKey)?.stringValue }
    }

    /// A list key's item noun: `listeners` -> `listener`.
    static func singular(_ key: String) -> String {
        switch key {
        case "admin_networks": return "admin network"
        case "alpn": return "ALPN protocol"
        case "pin_sha256": return "pin"
        case "types": return "type"
        case "pools": return "pool"
        default: return key.hasSuffix("s") ? String(key.dropLast()) : key
        }
    }
}

/// The coding key of a list item.
struct IndexKey: CodingKey {
    var index: Int
    init(index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
    var stringValue: String { "\(index)" }
    var intValue: Int? { index }
}

extension Node {
    /// Whether this node is YAML null (`~`, `null` or nothing).
    var isNull: Bool { null != nil }
}
