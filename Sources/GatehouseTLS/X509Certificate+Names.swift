import COpenSSL
import Foundation

/// The names a certificate carries: subject CN, SAN dNSNames and IP addresses, and the matching rule
/// used both by `CertificateStore` (which certificate to serve) and by the proxy (421 decisions).
extension X509Certificate {
    /// The subject's (last) commonName, decoded as UTF-8; nil when the subject has no CN.
    public var commonName: String? {
        guard let name = X509_get_subject_name(x509) else { return nil }
        // Walk all CN entries and keep the last one: the most specific by convention.
        var index: Int32 = -1
        var result: String? = nil
        while true {
            index = X509_NAME_get_index_by_NID(name, NID_commonName, index)
            if index < 0 { break }
            if let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) {
                result = asn1StringText(UnsafePointer(data))
            }
        }
        return result
    }

    /// The subjectAltName dNSName entries, in certificate order (as written, not normalised).
    public var dnsNames: [String] {
        subjectAltNames { type, name in
            guard type == GEN_DNS, let ia5 = name.pointee.d.dNSName else { return nil }
            return asn1StringText(UnsafePointer(ia5))
        }
    }

    /// The subjectAltName iPAddress entries in text form ("192.0.2.1", "2001:db8::1").
    public var ipAddresses: [String] {
        subjectAltNames { type, name in
            guard type == GEN_IPADD, let octets = name.pointee.d.iPAddress else { return nil }
            let length = Int(ASN1_STRING_length(octets))
            guard let data = ASN1_STRING_get0_data(octets), length == 4 || length == 16 else { return nil }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let family = length == 4 ? AF_INET : AF_INET6
            // inet_ntop reads exactly 4 or 16 bytes from `data`, which lives as long as `octets`.
            guard inet_ntop(family, data, &text, socklen_t(text.count)) != nil else { return nil }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The subject as Exchange shows it: most specific attribute first, e.g. "CN=mbx01, O=Contoso".
    public var subjectLine: String { Self.nameLine(X509_get_subject_name(x509)) }

    /// Whether this certificate covers `hostName` under `HostNameMatching`'s rules (the same ones
    /// `CertificateStore` and backend verification use): a DNS name against the SAN dNSNames (or
    /// the CN when there are none), exactly or by a one-label wildcard; an IP literal, in any form
    /// (`10.0.0.5`, `[::1]`, `127.1`), only against the SAN iPAddress entries. A port
    /// (`mail.contoso.com:443`, `[::1]:443`), as found in a Host header, is ignored.
    public func covers(hostName: String) -> Bool {
        CertificateNames(self).covers(hostName: hostName)
    }

    /// `covers(hostName:)` for a host already classified.
    func covers(_ reference: HostNameMatching.Reference) -> Bool {
        CertificateNames(self).covers(reference)
    }

    /// "name:port" -> "name", "[v6]:port" -> "[v6]"; bare IPv6 literals and names stay as they are.
    /// The port is ASCII digits only. Searched byte by byte, not by `Character`: this runs for
    /// every request's Host (the 421 check), where grapheme breaking cost ~6,000 instructions.
    /// A host with non-ASCII bytes is no DNS name or IP literal, whatever is cut off it here.
    static func strippingPort(_ host: String) -> String {
        let bytes = host.utf8
        if bytes.first == UInt8(ascii: "["), let close = bytes.firstIndex(of: UInt8(ascii: "]")) {
            return String(host[...close])
        }
        guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")), bytes.firstIndex(of: UInt8(ascii: ":")) == colon
        else { return host }
        let port = bytes[bytes.index(after: colon)...]
        guard !port.isEmpty, port.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return host }
        return String(host[..<colon])
    }

    /// The names used for host matching: the SAN dNSNames, or the CN when there are none
    /// (RFC 6125: the CN is only consulted when no DNS SAN is present).
    var matchableNames: [String] {
        let sans = dnsNames
        if !sans.isEmpty { return sans }
        return commonName.map { [$0] } ?? []
    }

    /// Collects values from the subjectAltName extension; `transform` receives each GENERAL_NAME.
    private func subjectAltNames(_ transform: (Int32, UnsafeMutablePointer<GENERAL_NAME>) -> String?) -> [String] {
        // X509_get_ext_d2i returns a fresh GENERAL_NAMES stack that we own and must free.
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { COpenSSL_GENERAL_NAMES_free(names) }
        var result: [String] = []
        for index in 0..<COpenSSL_sk_GENERAL_NAME_num(names) {
            guard let name = COpenSSL_sk_GENERAL_NAME_value(names, index) else { continue }
            if let value = transform(name.pointee.type, name) { result.append(value) }
        }
        return result
    }

    /// Formats an X509_NAME most-specific-first with short attribute names ("CN=a, OU=b, O=c").
    static func nameLine(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        var parts: [String] = []
        let count = X509_NAME_entry_count(name)
        for index in stride(from: count - 1, through: 0, by: -1) {
            guard let entry = X509_NAME_get_entry(name, index),
                let object = X509_NAME_ENTRY_get_object(entry),
                let data = X509_NAME_ENTRY_get_data(entry)
            else { continue }
            let nid = OBJ_obj2nid(object)
            var key: String
            if nid != NID_undef, let short = OBJ_nid2sn(nid) {
                key = String(cString: short)
            } else {
                var buffer = [CChar](repeating: 0, count: 80)
                OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
                key = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            if key == "emailAddress" { key = "E" }
            parts.append("\(key)=\(asn1StringText(UnsafePointer(data)) ?? "")")
        }
        return parts.joined(separator: ", ")
    }
}

/// Decodes any ASN1_STRING (UTF8String, PrintableString, BMPString, IA5String...) to Swift text.
func asn1StringText(_ string: UnsafePointer<ASN1_STRING>) -> String? {
    var out: UnsafeMutablePointer<UInt8>? = nil
    // ASN1_STRING_to_UTF8 allocates `out` with OPENSSL_malloc; we free it below. -1 means failure.
    let length = ASN1_STRING_to_UTF8(&out, string)
    guard length >= 0, let out else { return nil }
    defer { COpenSSL_OPENSSL_free(out) }
    return String(decoding: UnsafeBufferPointer(start: out, count: Int(length)), as: UTF8.self)
}

/// The names a certificate covers, read from it once (SAN dNSNames or the CN, parsed as
/// `HostNameMatching.Presented`; SAN iPAddresses in canonical form), so a check per request reads
/// no ASN.1 and allocates nothing but the normalised host.
public struct CertificateNames: Sendable {
    let patterns: [HostNameMatching.Presented]
    let addresses: [String]

    public init(_ certificate: X509Certificate) {
        patterns = certificate.matchableNames.compactMap(HostNameMatching.presented)
        addresses = certificate.ipAddresses.compactMap(IPAddressText.canonical)
    }

    /// See `X509Certificate.covers(hostName:)`.
    public func covers(hostName: String) -> Bool {
        guard let reference = HostNameMatching.reference(X509Certificate.strippingPort(hostName)) else { return false }
        return covers(reference)
    }

    func covers(_ reference: HostNameMatching.Reference) -> Bool {
        switch reference {
        case .ip(let address):
            return addresses.contains(address)
        case .dns(let host):
            return patterns.contains { HostNameMatching.matches($0, dnsName: host) }
        }
    }
}

/// Canonical text of IP literals, so "::1", "0:0::1" and "[::1]" compare equal.
enum IPAddressText {
    /// Returns the canonical text for an IPv4 or IPv6 literal (brackets allowed), else nil.
    static func canonical(_ text: String) -> String? {
        var text = text
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return nil
    }

    /// The canonical text of an IPv4 address (`inet_aton`'s result for the short forms).
    static func canonical(_ address: in_addr) -> String? {
        var address = address
        var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
