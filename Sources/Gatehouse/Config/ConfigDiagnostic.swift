/// One problem found in a configuration file, with where it is and how to fix it.
///
/// `description` is the compiler-style line editors understand:
/// `conf/x.yaml:12:5: error: unknown key 'adress' in listener 'https' (did you mean 'address'?)`.
public struct ConfigDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// How bad the problem is.
    public enum Severity: String, Sendable, Hashable {
        /// The configuration cannot be used.
        case error
        /// The configuration works but is probably not what was meant.
        case warning
    }

    /// The configuration file, as the user named it.
    public var file: String
    /// The 1-based line, or 0 when the problem concerns the whole file.
    public var line: Int
    /// The 1-based column, or 0 when unknown.
    public var column: Int
    /// Error or warning.
    public var severity: Severity
    /// What is wrong, naming the key and the section (`listener 'https'`).
    public var message: String
    /// How to fix it, if there is something specific to say.
    public var hint: String?

    /// A diagnostic.
    public init(file: String, line: Int, column: Int, severity: Severity = .error, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.severity = severity
        self.message = message
        self.hint = hint
    }

    public var description: String {
        var location = file
        if line > 0 {
            location += ":\(line)"
            if column > 0 { location += ":\(column)" }
        }
        let hintText = hint.map { " (\($0))" } ?? ""
        return "\(location): \(severity.rawValue): \(message)\(hintText)"
    }
}

/// A configuration that cannot be used: every error found (not just the first), in file order.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The errors, sorted by line and column.
    public var diagnostics: [ConfigDiagnostic]
    /// Warnings found along the way (also worth showing when the load failed).
    public var warnings: [ConfigDiagnostic]

    /// An error carrying `diagnostics`.
    public init(diagnostics: [ConfigDiagnostic], warnings: [ConfigDiagnostic] = []) {
        self.diagnostics = diagnostics
        self.warnings = warnings
    }

    /// One diagnostic per line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Suggestions for misspelt names ("did you mean 'address'?").
enum Spelling {
    /// The candidate closest to `word` by edit distance, if it is close enough to be a plausible typo.
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let lowered = word.lowercased()
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        // Allow about one edit per three characters, at least one, at most three.
        let allowed = min(3, max(1, word.count / 3))
        return best.distance <= allowed ? best.name : nil
    }

    /// Edit distance between two strings (by Character) where insertion, deletion, substitution and
    /// a swap of two adjacent characters each cost 1 (optimal string alignment): `nmae` is one edit
    /// from `name`.
    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(lhs)
        let b = Array(rhs)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }

    /// "did you mean 'x'?" or, failing a close match, the list of valid names.
    static func hint(for word: String, among candidates: [String]) -> String {
        if let match = suggestion(for: word, among: candidates) { return "did you mean '\(match)'?" }
        return "valid keys: " + candidates.joined(separator: ", ")
    }
}
