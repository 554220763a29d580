import GatehouseTLS
import NIOHTTP1

/// The headers that tell a backend about the client certificate Gatehouse verified:
///
/// | header | value |
/// |---|---|
/// | `X-Client-Cert-Verified` | `SUCCESS` |
/// | `X-Client-Cert-Subject` | the subject, RFC 2253 (`CN=alice,OU=Staff,O=Contoso`) |
/// | `X-Client-Cert-Issuer` | the issuer, RFC 2253 |
/// | `X-Client-Cert-Serial` | the serial number, uppercase hex |
/// | `X-Client-Cert-SHA256` | SHA-256 of the DER certificate, 64 uppercase hex digits |
///
/// They are sent only for a certificate OpenSSL verified on this connection; otherwise none is.
/// Whatever the listener, every header a client sends whose name starts with `X-Client-Cert`
/// (any case: `X-Client-Cert-Subject`, `x-client-certificate`...) is removed first, so a backend
/// that trusts these headers can never be handed a client's claim.
enum ClientCertificateHeaders {
    /// The prefix every removed header name starts with, lower case.
    static let prefix: StaticString = "x-client-cert"
    static let prefixLength = prefix.utf8CodeUnitCount

    /// Removes every `X-Client-Cert*` header, then adds the five above when `certificate` is set.
    static func replace(in headers: inout HTTPHeaders, with certificate: VerifiedClientCertificate?) {
        strip(&headers)
        guard let certificate else { return }
        headers.add(name: "X-Client-Cert-Verified", value: "SUCCESS")
        headers.add(name: "X-Client-Cert-Subject", value: certificate.subject)
        headers.add(name: "X-Client-Cert-Issuer", value: certificate.issuer)
        headers.add(name: "X-Client-Cert-Serial", value: certificate.serialNumber)
        headers.add(name: "X-Client-Cert-SHA256", value: certificate.sha256Thumbprint)
    }

    /// Removes the client's `X-Client-Cert*` headers. One scan that looks at a name's length and
    /// first byte before comparing it; `remove(name:)` runs only for names found.
    static func strip(_ headers: inout HTTPHeaders) {
        var found: [String] = []
        for (name, _) in headers where isClientCertificateHeader(name) {
            let lowercased = name.lowercased()
            if !found.contains(lowercased) { found.append(lowercased) }
        }
        for name in found { headers.remove(name: name) }
    }

    /// Whether `name` starts with `x-client-cert`, ignoring ASCII case.
    static func isClientCertificateHeader(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard utf8.count >= prefixLength, let first = utf8.first, first | 0x20 == UInt8(ascii: "x") else { return false }
        return prefix.withUTF8Buffer { expected in
            var index = utf8.startIndex
            for byte in expected {
                guard ASCII.lower(utf8[index]) == byte else { return false }
                index = utf8.index(after: index)
            }
            return true
        }
    }
}
