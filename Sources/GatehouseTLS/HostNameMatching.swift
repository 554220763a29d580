/// The one set of host-name rules shared by `X509Certificate.covers(hostName:)` and `CertificateStore`,
/// so that "which certificate does the store serve" and "does the served certificate cover this Host"
/// can never disagree.
///
/// Rules: case-insensitive; a single trailing dot is ignored; only ASCII letters, digits, hyphens and
/// dots are accepted (IDNs arrive as A-labels `xn--...`, which are plain LDH ASCII); a wildcard is only
/// a whole left-most label `*` and covers exactly one label, and never sits directly above a bare TLD.
enum HostNameMatching {
    /// Normalises a name (a host name or a certificate name) to lowercase without a trailing dot.
    /// Returns nil for anything that is not an LDH ASCII name (empty labels, spaces, non-ASCII,
    /// control bytes): such names never match anything.
    /// - Parameter allowWildcard: accept a `*` as the whole left-most label (certificate names only).
    static func normalize(_ name: String, allowWildcard: Bool = false) -> String? {
        var bytes = Array(name.utf8)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        guard !bytes.isEmpty, bytes.count <= 253 else { return nil }
        var labelLength = 0
        for (index, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                bytes[index] = byte + 32
                labelLength += 1
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                labelLength += 1
            case UInt8(ascii: "*"):
                // Only "*." at the very start: partial-label wildcards ("f*.x.com") are refused.
                guard allowWildcard, index == 0, bytes.count > 1, bytes[1] == UInt8(ascii: ".") else { return nil }
                labelLength += 1
            case UInt8(ascii: "."):
                guard labelLength > 0 else { return nil }
                labelLength = 0
            default:
                return nil
            }
            if labelLength > 63 { return nil }
        }
        guard labelLength > 0 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// For a normalised wildcard name `*.rest`, returns `rest` when the wildcard is acceptable:
    /// `rest` must itself have at least two labels, so `*.com` (a bare TLD) never covers anything.
    static func wildcardBase(_ normalizedPattern: String) -> Substring? {
        guard normalizedPattern.hasPrefix("*.") else { return nil }
        let base = normalizedPattern.dropFirst(2)
        guard base.contains("."), !base.contains("*") else { return nil }
        return base
    }

    /// For a normalised host name, the part a wildcard would have to equal: everything after the
    /// left-most label ("mail.contoso.com" -> "contoso.com"). Nil for single-label names.
    static func parentDomain(_ normalizedHost: String) -> Substring? {
        guard let dot = normalizedHost.firstIndex(of: ".") else { return nil }
        return normalizedHost[normalizedHost.index(after: dot)...]
    }

    /// Whether a certificate name (exact or wildcard) covers a host name. Both are normalised here.
    static func matches(pattern: String, host: String) -> Bool {
        guard let host = normalize(host), let pattern = normalize(pattern, allowWildcard: true) else { return false }
        return matches(normalizedPattern: pattern, normalizedHost: host)
    }

    /// `matches(pattern:host:)` for names that are already normalised.
    static func matches(normalizedPattern pattern: String, normalizedHost host: String) -> Bool {
        if let base = wildcardBase(pattern) {
            guard let parent = parentDomain(host) else { return false }
            return parent == base
        }
        if pattern.hasPrefix("*") { return false }
        return pattern == host
    }
}
