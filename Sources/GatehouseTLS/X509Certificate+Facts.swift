import COpenSSL
import Foundation

/// Where a certificate stands in time, in Get-ExchangeCertificate's words.
public enum CertificateStatus: String, Sendable, CaseIterable {
    case valid = "Valid"
    case expired = "Expired"
    case notYetValid = "NotYetValid"
    /// Valid now, but notAfter is within the warning window (30 days by default).
    case expiresSoon = "ExpiresSoon"
}

extension X509Certificate {
    /// The issuer name, formatted like `subjectLine`, e.g. "CN=Contoso Lab Root CA".
    public var issuerLine: String { Self.nameLine(X509_get_issuer_name(x509)) }

    /// True when the certificate names itself as issuer and its signature verifies with its own key.
    public var isSelfSigned: Bool {
        OpenSSLErrorQueue.clear()
        // X509_self_signed returns 1 for yes, 0 for no, -1 on error; 1 = also verify the signature.
        let result = X509_self_signed(x509, 1)
        OpenSSLErrorQueue.clear()
        return result == 1
    }

    /// True when basicConstraints says CA:TRUE (this certificate may sign others).
    public var isCertificateAuthority: Bool {
        // X509_check_ca returns 0 for "not a CA", >= 1 for the various CA forms.
        X509_check_ca(x509) >= 1
    }

    /// The public key's type and size, e.g. "RSA 2048" or "EC P-256".
    public var publicKeyDescription: String {
        guard let key = X509_get0_pubkey(x509) else { return "none" }
        return PublicKeyFacts(key).description
    }

    /// The public key size in bits (Get-ExchangeCertificate's PublicKeySize): 2048 for RSA-2048, 256 for P-256.
    public var publicKeySize: Int {
        guard let key = X509_get0_pubkey(x509) else { return 0 }
        return PublicKeyFacts(key).bits
    }

    /// The serial number in upper-case hex, e.g. "5A3F...".
    public var serialNumberHex: String {
        guard let serial = X509_get0_serialNumber(x509),
            let number = ASN1_INTEGER_to_BN(serial, nil)
        else { return "" }
        // ASN1_INTEGER_to_BN made a new BIGNUM; BN_bn2hex a new string: both are ours to free.
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { COpenSSL_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    /// The signature algorithm's long name, e.g. "sha256WithRSAEncryption" or "ecdsa-with-SHA256".
    public var signatureAlgorithmName: String {
        let nid = X509_get_signature_nid(x509)
        guard let name = OBJ_nid2ln(nid) else { return "unknown" }
        return String(cString: name)
    }

    /// The status at `date`: NotYetValid, Expired, ExpiresSoon (notAfter within `warningWindow`), or Valid.
    public func status(at date: Date = Date(), warningWindow: TimeInterval = 30 * 86_400) -> CertificateStatus {
        var now = time_t(date.timeIntervalSince1970)
        var soon = time_t(date.timeIntervalSince1970 + warningWindow)
        // X509_cmp_time: -1 when the ASN1 time is before the given time, 1 when after, 0 on error.
        if X509_cmp_time(X509_get0_notBefore(x509), &now) > 0 { return .notYetValid }
        if X509_cmp_time(X509_get0_notAfter(x509), &now) < 0 { return .expired }
        if X509_cmp_time(X509_get0_notAfter(x509), &soon) < 0 { return .expiresSoon }
        return .valid
    }

    /// Seconds from `date` until notAfter (negative once expired), for "expires in N days" messages.
    public func secondsUntilExpiry(from date: Date = Date()) -> TimeInterval {
        var days: Int32 = 0
        var seconds: Int32 = 0
        // ASN1_TIME_set allocates a new time (nil on failure); it is ours to free.
        guard let from = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970)) else { return 0 }
        defer { ASN1_TIME_free(from) }
        // ASN1_TIME_diff returns 1 on success.
        guard ASN1_TIME_diff(&days, &seconds, from, X509_get0_notAfter(x509)) == 1 else { return 0 }
        return TimeInterval(days) * 86_400 + TimeInterval(seconds)
    }
}

/// Text forms of X.509 names for requests (certificates use `X509Certificate+Names`).
enum CertificateFactsText {
    /// The dNSName entries of a GENERAL_NAMES stack (which the caller keeps), in order.
    static func dnsNames(in names: OpaquePointer) -> [String] {
        var result: [String] = []
        for index in 0..<COpenSSL_sk_GENERAL_NAME_num(names) {
            guard let entry = COpenSSL_sk_GENERAL_NAME_value(names, index) else { continue }
            var type: Int32 = 0
            // X509 GENERAL_NAME_get0_value borrows: the IA5STRING stays owned by the stack.
            guard let value = GENERAL_NAME_get0_value(entry, &type), type == GEN_DNS else { continue }
            let string = value.assumingMemoryBound(to: ASN1_STRING.self)
            guard let data = ASN1_STRING_get0_data(string) else { continue }
            let length = Int(ASN1_STRING_length(string))
            result.append(String(decoding: UnsafeBufferPointer(start: data, count: length), as: UTF8.self))
        }
        return result
    }
}
