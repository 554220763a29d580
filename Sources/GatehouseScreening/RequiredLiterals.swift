#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The literal strings every match of a pattern must contain, found from its source, so a subject
/// that lacks one is refused without running PCRE2: the literal prefilter nginx-style front ends
/// put before their regular expressions.
///
/// It matters for the lookahead form Microsoft's mitigations use: `(?=.*autodiscover)(?=.*powershell)`
/// costs PCRE2 time quadratic in the subject's length when neither word is there (every start
/// position scans to the end), about 4 µs on a 50-byte URI; two substring searches cost ~0.1 µs.
///
/// Conservative by construction: a literal is kept only when the parser is sure every match
/// contains it (outside alternation, outside optional parts, outside negative assertions); any
/// construct it does not fully understand (letter escapes, inline options, verbs, `\Q`) makes it
/// give up, and then every subject goes to PCRE2. The search ignores ASCII case always, which can
/// only let more subjects through, never fewer.
enum RequiredLiterals {
    /// The lower-case literals (at least `minimumLength` bytes each) every match contains, or []
    /// when there is nothing certain to say.
    static func of(_ pattern: String, minimumLength: Int = 3) -> [[UInt8]] {
        var parser = Parser(bytes: Array(pattern.utf8))
        guard let literals = parser.sequence(), parser.index == parser.bytes.count, !parser.failed else { return [] }
        let kept = literals.filter { $0.count >= minimumLength }.map { $0.map(lower) }
        // Longest first: the most selective test runs first.
        return Array(Set(kept)).sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
    }

    /// Whether `subject` contains every literal (ASCII case ignored).
    static func allPresent(_ literals: [[UInt8]], in subject: UnsafeBufferPointer<UInt8>) -> Bool {
        for literal in literals where !contains(subject, literal) { return false }
        return true
    }

    /// Case-insensitive substring search; `needle` is lower case and not empty. Candidates for the
    /// first byte are found with `memchr` (vectorised in the C library), once per case of a letter,
    /// so a long Cookie header without the literal costs a few nanoseconds, not one per byte.
    static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let base = haystack.baseAddress, haystack.count >= needle.count else { return false }
        let first = needle[0]
        let isLetter = first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z")
        let upper = isLetter ? first & ~0x20 : first
        // Candidate starts are 0...lastStart; `next` finds the first at or after `from`.
        let lastStart = haystack.count - needle.count
        var nextLower = -1  // cached position of the next `first`, or lastStart + 1 when none
        var nextUpper = isLetter ? -1 : lastStart + 1
        var from = 0
        return needle.withUnsafeBufferPointer { needleBytes in
            while from <= lastStart {
                let length = lastStart - from + 1
                if nextLower < from {
                    nextLower =
                        memchr(base + from, Int32(first), length).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - base }
                        ?? lastStart + 1
                }
                if nextUpper < from {
                    nextUpper =
                        memchr(base + from, Int32(upper), length).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - base }
                        ?? lastStart + 1
                }
                let candidate = min(nextLower, nextUpper)
                if candidate > lastStart { return false }
                var offset = 1
                while offset < needleBytes.count, lower(base[candidate + offset]) == needleBytes[offset] { offset += 1 }
                if offset == needleBytes.count { return true }
                from = candidate + 1
            }
            return false
        }
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// A recursive-descent reader of the pattern subset it understands.
    struct Parser {
        let bytes: [UInt8]
        var index = 0
        /// Set on anything not understood: the caller then uses no prefilter at all.
        var failed = false

        init(bytes: [UInt8]) { self.bytes = bytes }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        /// A sequence up to `)` or the end: its required literals, or nil when it contains a
        /// top-level `|` (then nothing in it is certain).
        mutating func sequence() -> [[UInt8]]? {
            var literals: [[UInt8]] = []
            var run: [UInt8] = []
            var alternation = false
            func endRun() {
                if !run.isEmpty { literals.append(run) }
                run = []
            }
            while let byte = current, !failed {
                switch byte {
                case UInt8(ascii: ")"):
                    endRun()
                    return alternation ? nil : literals
                case UInt8(ascii: "|"):
                    index += 1
                    endRun()
                    alternation = true
                case UInt8(ascii: "("):
                    endRun()
                    let inner = group()
                    if failed { return nil }
                    // A quantifier allowing zero repetitions makes the whole group optional.
                    if quantifierMinimum() == 0 { continue }
                    literals += inner
                case UInt8(ascii: "["):
                    endRun()
                    skipClass()
                    _ = quantifierMinimum()
                case UInt8(ascii: "\\"):
                    guard index + 1 < bytes.count else {
                        failed = true
                        return nil
                    }
                    let escaped = bytes[index + 1]
                    let isAlphanumeric = (escaped >= 0x30 && escaped <= 0x39) || (lower(escaped) >= 0x61 && lower(escaped) <= 0x7A)
                    guard !isAlphanumeric, escaped < 0x80 else {
                        failed = true
                        return nil
                    }
                    index += 2
                    let (keep, ends) = literalFollowed()
                    if keep { run.append(escaped) }
                    if ends { endRun() }
                case UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "$"):
                    index += 1
                    endRun()
                    _ = quantifierMinimum()
                case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"),
                    UInt8(ascii: "]"), UInt8(ascii: "}"):
                    // A quantifier with nothing before it, or a brace that is not one: leave it to PCRE2.
                    failed = true
                    return nil
                default:
                    index += 1
                    let (keep, ends) = literalFollowed()
                    if keep { run.append(byte) }
                    if ends { endRun() }
                }
            }
            endRun()
            return alternation ? nil : literals
        }

        /// After a literal byte: whether it stays in the run (not when a quantifier allowing zero
        /// of it follows: `a?`, `a*`, `a{0,2}`) and whether the run ends (after any quantifier).
        private mutating func literalFollowed() -> (keep: Bool, ends: Bool) {
            let save = index
            let minimum = quantifierMinimum()
            return index == save ? (true, false) : (minimum > 0, true)
        }

        /// Reads a quantifier (with a lazy `?` or possessive `+` suffix) if one follows: its minimum
        /// count, or -1 when none follows.
        private mutating func quantifierMinimum() -> Int {
            guard let byte = current else { return -1 }
            var minimum: Int
            switch byte {
            case UInt8(ascii: "*"), UInt8(ascii: "?"):
                index += 1
                minimum = 0
            case UInt8(ascii: "+"):
                index += 1
                minimum = 1
            case UInt8(ascii: "{"):
                // {n}, {n,}, {n,m}; anything else is a literal brace to PCRE2 10.42: give up.
                var cursor = index + 1
                var digits = 0
                var value = 0
                while cursor < bytes.count, bytes[cursor] >= 0x30, bytes[cursor] <= 0x39 {
                    value = min(value * 10 + Int(bytes[cursor] - 0x30), 100_000)
                    cursor += 1
                    digits += 1
                }
                guard digits > 0 else {
                    failed = true
                    return -1
                }
                if cursor < bytes.count, bytes[cursor] == UInt8(ascii: ",") {
                    cursor += 1
                    while cursor < bytes.count, bytes[cursor] >= 0x30, bytes[cursor] <= 0x39 { cursor += 1 }
                }
                guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "}") else {
                    failed = true
                    return -1
                }
                index = cursor + 1
                minimum = value
            default:
                return -1
            }
            if let suffix = current, suffix == UInt8(ascii: "?") || suffix == UInt8(ascii: "+") { index += 1 }
            return minimum
        }

        /// A group from its `(` to its `)`: the literals it requires.
        private mutating func group() -> [[UInt8]] {
            index += 1  // (
            var required = true
            if current == UInt8(ascii: "?") {
                let next = index + 1 < bytes.count ? bytes[index + 1] : 0
                let after = index + 2 < bytes.count ? bytes[index + 2] : 0
                switch next {
                case UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: ">"):
                    index += 2  // non-capturing, positive lookahead, atomic: contents required
                case UInt8(ascii: "!"):
                    index += 2
                    required = false  // negative lookahead: nothing in it is present
                case UInt8(ascii: "<") where after == UInt8(ascii: "="):
                    index += 3  // positive lookbehind
                case UInt8(ascii: "<") where after == UInt8(ascii: "!"):
                    index += 3
                    required = false
                default:
                    // Named groups, inline options, comments, conditionals, recursion, branch
                    // reset: not understood here.
                    failed = true
                    return []
                }
            } else if current == UInt8(ascii: "*") {
                failed = true  // (*VERB)
                return []
            }
            let inner = sequence()
            guard !failed, current == UInt8(ascii: ")") else {
                failed = true
                return []
            }
            index += 1  // )
            return required ? (inner ?? []) : []
        }

        /// Skips a character class `[...]` (with `]` first, escapes and POSIX `[:name:]` inside).
        private mutating func skipClass() {
            index += 1  // [
            if current == UInt8(ascii: "^") { index += 1 }
            if current == UInt8(ascii: "]") { index += 1 }
            while let byte = current {
                switch byte {
                case UInt8(ascii: "]"):
                    index += 1
                    return
                case UInt8(ascii: "\\"):
                    if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "Q") {
                        failed = true
                        return
                    }
                    index += 2
                case UInt8(ascii: "["):
                    let next = index + 1 < bytes.count ? bytes[index + 1] : 0
                    if next == UInt8(ascii: ":") || next == UInt8(ascii: ".") || next == UInt8(ascii: "=") {
                        // [:alpha:] inside a class: skip to its closing ':]'.
                        var cursor = index + 2
                        while cursor + 1 < bytes.count, !(bytes[cursor] == next && bytes[cursor + 1] == UInt8(ascii: "]")) {
                            cursor += 1
                        }
                        guard cursor + 1 < bytes.count else {
                            failed = true
                            return
                        }
                        index = cursor + 2
                    } else {
                        index += 1
                    }
                default:
                    index += 1
                }
            }
            failed = true  // unterminated
        }
    }
}
