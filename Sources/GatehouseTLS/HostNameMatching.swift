import CPSL
import Foundation

/// The one set of host-name rules (RFC 6125, RFC 9525, the CA/Browser Forum's wildcard rule) used
/// wherever Gatehouse compares a host with a certificate: choosing the certificate to serve for an
/// SNI name (`CertificateStore`), deciding whether the served certificate covers a Host header
/// (`X509Certificate.covers`, 421), and verifying a backend's certificate against its TLS name
/// (the client verify callback). One function, so the three can never disagree.
///
/// The rules, decided once:
/// - **Case**: ASCII letters fold to lower case; nothing else folds. A name with any byte outside
///   ASCII is not a DNS name (IDNs travel as A-labels, `xn--…`, which are ASCII) and matches nothing.
/// - **Labels**: letters, digits, `-` and `_`, 1-63 bytes, the whole name at most 253 bytes. A label
///   never starts or ends with `-`. `_` is accepted, as Go's crypto/x509 and webpki accept it,
///   because internal (Active Directory) host names carry it; `gatehouse cert` still refuses to
///   *issue* such a name (`HostNameRules`), since public CAs do.
/// - **Trailing dot**: one trailing dot on a *host* is ignored (`mail.contoso.com.` is an absolute
///   name). A *certificate* name with a trailing dot is malformed and matches nothing.
/// - **IP literals**: a host whose last label is numeric (`192.0.2.1`, and the short, octal and hex
///   forms URL parsers accept: `127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`) or that is IPv6
///   (`::1`, `[::1]`) is an IP address. It is compared only with the certificate's iPAddress
///   entries, in canonical form, never with a DNS name, so `*.0.2.1` or a DNS SAN `192.0.2.1`
///   never covers an address. A certificate name whose last label is numeric is likewise not a DNS
///   name and matches nothing.
/// - **Wildcards**: only `*` as the whole left-most label (`*.contoso.com`), covering exactly one
///   label, never the bare parent (`contoso.com`) and never two labels. Partial-label (`f*.x.com`,
///   `*x.x.com`), inner (`a.*.x.com`) and multiple wildcards match nothing. The part under the
///   wildcard must have two labels or more and must not be a public suffix (ICANN section of the
///   Public Suffix List through libpsl: `*.co.uk` and `*.com` cover nothing; `*.contoso.lab` does).
enum HostNameMatching {
    /// A host as a client or an operator names it (SNI, Host header, backend `tls_name`).
    enum Reference: Equatable, Sendable {
        /// A DNS name: lower case, no trailing dot, valid labels.
        case dns(String)
        /// An IP address in canonical text form (`IPAddressText.canonical`).
        case ip(String)
    }

    /// A certificate's name (SAN dNSName, or the CN when there is no SAN), ready for matching.
    enum Presented: Equatable, Sendable {
        /// Matches exactly this lower-case name.
        case exact(String)
        /// `*.base`: matches any one label followed by `.base`.
        case wildcard(base: String)
    }

    // MARK: reference identifiers

    /// Classifies and normalises a host. Nil for anything that is neither a valid DNS name nor an
    /// IP literal (empty labels, spaces, control bytes, non-ASCII, a numeric last label that is no
    /// IPv4 address): such a host matches nothing.
    static func reference(_ host: String) -> Reference? {
        // Byte tests, not Foundation's `contains(String)`: this runs for every request's Host.
        let colon = UInt8(ascii: ":")
        if host.utf8.first == UInt8(ascii: "[") || host.utf8.contains(colon) {
            guard let address = IPAddressText.canonical(host), address.utf8.contains(colon) else { return nil }
            return .ip(address)
        }
        var bytes = Array(host.utf8)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        guard let labels = lowercasedLabels(&bytes) else { return nil }
        if isNumeric(label: labels.last, in: bytes) {
            // URL parsers read such a host as IPv4 in any of inet_aton's forms; so do we.
            var address = in_addr()
            let text = String(decoding: bytes, as: UTF8.self)
            guard inet_aton(text, &address) == 1, let canonical = IPAddressText.canonical(address) else { return nil }
            return .ip(canonical)
        }
        return .dns(String(decoding: bytes, as: UTF8.self))
    }

    /// The DNS name of `host` in normal form, or nil when it is an IP literal or invalid.
    static func normalizedDNSName(_ host: String) -> String? {
        if case .dns(let name) = reference(host) { return name }
        return nil
    }

    // MARK: presented identifiers

    /// Reads a certificate name. Nil for a name that can match nothing: malformed, a trailing dot,
    /// numeric last label, a wildcard anywhere but as the whole left-most label, or a wildcard over
    /// fewer than two labels or over a public suffix.
    static func presented(_ name: String) -> Presented? {
        var bytes = Array(name.utf8)
        guard bytes.last != UInt8(ascii: ".") else { return nil }
        var wildcard = false
        if bytes.count > 2, bytes[0] == UInt8(ascii: "*"), bytes[1] == UInt8(ascii: ".") {
            wildcard = true
            bytes.removeFirst(2)
        }
        guard let labels = lowercasedLabels(&bytes), !isNumeric(label: labels.last, in: bytes) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard wildcard else { return .exact(text) }
        guard labels.count >= 2, !isPublicSuffix(text) else { return nil }
        return .wildcard(base: text)
    }

    // MARK: matching

    /// Whether the certificate name `pattern` covers the DNS name `host` (both in normal form).
    static func matches(_ pattern: Presented, dnsName host: String) -> Bool {
        switch pattern {
        case .exact(let name):
            return name == host
        case .wildcard(let base):
            guard let parent = parentDomain(host) else { return false }
            return parent == base
        }
    }

    /// Whether the certificate name `pattern` (as written in the certificate) covers `host` (as a
    /// client sent it). IP hosts never match a DNS name: use the certificate's iPAddress entries.
    static func matches(pattern: String, host: String) -> Bool {
        guard let presented = presented(pattern), case .dns(let name)? = reference(host) else { return false }
        return matches(presented, dnsName: name)
    }

    /// Everything after the left-most label (`mail.contoso.com` → `contoso.com`): what a wildcard's
    /// base must equal. Nil for a single-label name.
    static func parentDomain(_ normalizedHost: String) -> Substring? {
        guard let dot = normalizedHost.firstIndex(of: ".") else { return nil }
        return normalizedHost[normalizedHost.index(after: dot)...]
    }

    // MARK: label rules

    /// Lower-cases ASCII letters in place and checks every label. Returns how many labels there are
    /// and where the last one is (all the rules need; no array per call: this runs for every
    /// request's Host), or nil when a rule is broken.
    private static func lowercasedLabels(_ bytes: inout [UInt8]) -> (count: Int, last: Range<Int>)? {
        guard !bytes.isEmpty, bytes.count <= 253 else { return nil }
        var count = 0
        var last = 0..<0
        var start = 0
        for index in 0...bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: ".") {
                let length = index - start
                guard length > 0, length <= 63,
                    bytes[start] != UInt8(ascii: "-"), bytes[index - 1] != UInt8(ascii: "-")
                else { return nil }
                count += 1
                last = start..<index
                start = index + 1
                continue
            }
            switch bytes[index] {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                bytes[index] += 32
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"):
                break
            default:
                return nil
            }
        }
        return (count, last)
    }

    /// Whether a label reads as a number (decimal, or hex with `0x`): the WHATWG URL rule for
    /// "this host is an IPv4 address". No top-level domain is numeric.
    private static func isNumeric(label: Range<Int>, in bytes: [UInt8]) -> Bool {
        let label = bytes[label]
        if label.count > 2, label.first == UInt8(ascii: "0"),
            label[label.startIndex + 1] == UInt8(ascii: "x")
        {
            return label.dropFirst(2).allSatisfy { isHexDigit($0) }
        }
        return label.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    /// Whether `domain` (lower case) is a public suffix in the ICANN section of the Public Suffix
    /// List (libpsl: the system's list when installed, else the one built into the library).
    static func isPublicSuffix(_ domain: String) -> Bool {
        guard let list = PublicSuffixList.shared.context else {
            // No list at all: fall back to the structural rule (two labels or more, checked above).
            return false
        }
        return psl_is_public_suffix2(list, domain, CPSL_TYPE_ICANN) != 0
    }
}

/// The Public Suffix List, loaded once. libpsl's context is immutable after loading and safe to
/// query from any thread, hence `@unchecked Sendable`.
final class PublicSuffixList: @unchecked Sendable {
    static let shared = PublicSuffixList()
    let context: OpaquePointer?

    private init() {
        // psl_latest picks the newer of the system's list and the built-in one; nil when neither exists.
        context = psl_latest(nil)
    }
}
