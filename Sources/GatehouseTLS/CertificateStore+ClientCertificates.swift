import COpenSSL

/// Client certificates on the server side: how each context asks for them, what the verify
/// callback records, and what a finished handshake reports about the certificate.
extension TLSContext {
    /// Asks clients for a certificate (`SSL_VERIFY_PEER`, and `FAIL_IF_NO_PEER_CERT` when
    /// required), verifies it against `trust`'s store with a bounded depth, and names the trusted
    /// CAs in the CertificateRequest. Every context of a listener gets the same settings: SNI
    /// switches the connection to another context after the ClientHello.
    func requestClientCertificates(_ trust: ClientCertificateTrust) throws {
        OpenSSLErrorQueue.clear()
        // set1 takes its own reference: the store lives as long as the longest-lived context.
        SSL_CTX_set1_cert_store(ctx, trust.store)
        for authority in trust.policy.authorities where SSL_CTX_add_client_CA(ctx, authority.x509) != 1 {
            throw TLSError(
                .configuration,
                OpenSSLErrorQueue.describe(
                    "client certificates: \(trust.policy.source): cannot name \(authority.subjectLine) as acceptable CA"))
        }
        SSL_CTX_set_verify(ctx, trust.policy.verifyMode, clientCertificateVerifyCallback)
        SSL_CTX_set_verify_depth(ctx, Int32(trust.policy.verifyDepth))
    }
}

extension CertificateStore {
    /// After `SSL_set_SSL_CTX`: OpenSSL copies verify mode, callback and depth into the `SSL` when
    /// it is made (from the initial context) and does not take them from the context switched to,
    /// so they are set on the connection itself; the trust store is read from the current context.
    func applyClientCertificatePolicy(to ssl: OpaquePointer) {
        guard let policy = clientCertificates else { return }
        SSL_set_verify(ssl, policy.verifyMode, clientCertificateVerifyCallback)
        SSL_set_verify_depth(ssl, Int32(policy.verifyDepth))
    }
}

/// The largest DER-encoded subject accepted in a client certificate: the subject goes into a
/// backend request header and the access log, so its size is bounded here, at the handshake.
let maximumClientSubjectBytes: Int32 = 1024

/// Verify callback for client certificates: keeps OpenSSL's verdict, records the first failure on
/// the connection for the error message (OpenSSL's reason, never text from the certificate), and
/// refuses a leaf whose subject is longer than `maximumClientSubjectBytes`.
let clientCertificateVerifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverified, storeContext in
    guard let storeContext,
        let sslRaw = X509_STORE_CTX_get_ex_data(storeContext, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let raw = COpenSSL_SSL_get_app_data(OpaquePointer(sslRaw))
    else { return preverified }
    let connection = Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
    let depth = X509_STORE_CTX_get_error_depth(storeContext)
    if preverified == 0 {
        if connection.failureReason == nil {
            let reason = String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(storeContext))))
            connection.failureReason = "client certificate verification failed: \(reason) (at chain depth \(depth))"
        }
        return 0
    }
    if depth == 0, let leaf = X509_STORE_CTX_get_current_cert(storeContext),
        i2d_X509_NAME(X509_get_subject_name(leaf), nil) > maximumClientSubjectBytes
    {
        connection.failureReason = "client certificate verification failed: its subject is longer than \(maximumClientSubjectBytes) bytes"
        X509_STORE_CTX_set_error(storeContext, X509_V_ERR_APPLICATION_VERIFICATION)
        return 0
    }
    return 1
}

extension TLSConnection {
    /// Server role with client certificates: the client's certificate, only when it presented one
    /// and OpenSSL verified it (for a resumed session: when it was verified in the full handshake).
    var verifiedClientCertificate: VerifiedClientCertificate? {
        guard store?.clientCertificates != nil, let peer = SSL_get0_peer_certificate(ssl),
            SSL_get_verify_result(ssl) == X509_V_OK
        else { return nil }
        return VerifiedClientCertificate(X509Certificate(retaining: peer))
    }
}

/// A client certificate OpenSSL verified, reduced to what routing, the backend headers and the
/// access log use. Names are RFC 2253 strings (`CN=alice,OU=Staff,O=Contoso`, most specific first,
/// as nginx's `$ssl_client_s_dn`): printable ASCII only, since OpenSSL escapes control characters,
/// non-ASCII bytes (`\XX`) and the RFC 2253 specials, so they are safe in a header value.
public struct VerifiedClientCertificate: Sendable, Hashable {
    /// The subject, RFC 2253.
    public var subject: String
    /// The issuer, RFC 2253.
    public var issuer: String
    /// The serial number, uppercase hex.
    public var serialNumber: String
    /// SHA-256 of the DER certificate, 64 uppercase hex digits (no separators).
    public var sha256Thumbprint: String

    public init(subject: String, issuer: String, serialNumber: String, sha256Thumbprint: String) {
        self.subject = subject
        self.issuer = issuer
        self.serialNumber = serialNumber
        self.sha256Thumbprint = sha256Thumbprint
    }

    /// Reads the facts from a certificate.
    public init(_ certificate: X509Certificate) {
        self.init(
            subject: Self.rfc2253(X509_get_subject_name(certificate.x509)),
            issuer: Self.rfc2253(X509_get_issuer_name(certificate.x509)),
            serialNumber: certificate.serialNumberHex, sha256Thumbprint: certificate.sha256Fingerprint)
    }

    /// `X509_NAME_print_ex` with `XN_FLAG_RFC2253` (spelt out: Swift does not import the macro).
    static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        let strings = ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL | ASN1_STRFLGS_ESC_MSB | ASN1_STRFLGS_UTF8_CONVERT
        let dump = ASN1_STRFLGS_DUMP_UNKNOWN | ASN1_STRFLGS_DUMP_DER
        let separatorsAndOrder = XN_FLAG_SEP_COMMA_PLUS | XN_FLAG_DN_REV | XN_FLAG_DUMP_UNKNOWN_FIELDS
        let flags = UInt(strings) | UInt(dump) | UInt(separatorsAndOrder)
        guard X509_NAME_print_ex(bio, name, 0, flags) >= 0 else { return "" }
        return BIOText.read(bio)
    }
}
