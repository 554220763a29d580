/// The host-name rules a certificate name must follow to be *issued* (RFC 1123 labels: letters,
/// digits, hyphen), plus the wildcard rule Gatehouse and browsers apply: `*` only as the whole
/// left-most label, never over a public suffix (`*.com`, `*.co.uk` are refused). Stricter than
/// matching (`HostNameMatching`) in one respect: `_`, which public CAs refuse, is refused here too.
public enum HostNameRules {
    /// Checks `name` and returns it in lower case (DNS names compare case-insensitively; one
    /// spelling keeps SAN lists and SNI lookups simple).
    /// - Parameters:
    ///   - allowWildcard: whether a left-most `*` label is acceptable here.
    ///   - source: where the name came from (a flag such as `--dns`, or a file), for the error.
    /// - Throws: `TLSError(.invalidName)` saying which rule the name breaks.
    @discardableResult
    public static func validate(_ name: String, allowWildcard: Bool, source: String) throws -> String {
        func fail(_ reason: String) -> TLSError {
            TLSError(.invalidName, "\(source) \"\(printable(name))\": \(reason)")
        }
        if name.isEmpty { throw fail("a host name cannot be empty") }
        if name.utf8.count > 253 { throw fail("longer than 253 characters") }
        if name.hasSuffix(".") { throw fail("remove the trailing dot") }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if label.isEmpty { throw fail("empty label (two dots in a row or a leading dot)") }
            if label == "*" {
                guard allowWildcard else { throw fail("a wildcard is not allowed here") }
                guard index == 0 else { throw fail("'*' is allowed only as the whole left-most label") }
                continue
            }
            if label.utf8.count > 63 { throw fail("the label \"\(label)\" is longer than 63 characters") }
            for scalar in label.unicodeScalars {
                let ok =
                    (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
                    || (scalar >= "0" && scalar <= "9") || scalar == "-"
                if !ok {
                    let shown =
                        scalar == "*"
                        ? "'*' (a wildcard must be the whole left-most label, as in *.contoso.com)"
                        : "'\(printable(String(scalar)))'"
                    throw fail("character \(shown) is not allowed in a host name (use letters, digits, '-' and '.')")
                }
            }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                throw fail("the label \"\(label)\" must not start or end with '-'")
            }
        }
        if labels.first == "*" && (labels.count < 3 || HostNameMatching.presented(name) == nil) {
            throw fail(
                "a wildcard must sit below a registered domain (e.g. *.contoso.com), "
                    + "never directly above a top-level domain or another public suffix (such as co.uk)")
        }
        if labels.count == 4, labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) {
            throw fail("looks like an IP address; give host names only")
        }
        if let last = labels.last, labels.count > 1, last.allSatisfy(\.isNumber) {
            throw fail("the top-level label \"\(last)\" cannot be all digits")
        }
        return name.lowercased()
    }

    /// Makes control characters and non-ASCII visible in error messages (`\u{..}`), so an error
    /// line stays one line and shows exactly what was given.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value < 0x7F {
                result.unicodeScalars.append(scalar)
            } else {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return result
    }
}
