import COpenSSL

/// Whether a listener asks TLS clients for a certificate, and which CAs it accepts them from
/// (`tls.client_certificates` in the configuration; ActiveSync certificate-based authentication).
///
/// OpenSSL does the verification: every certificate in the CA file is a trust anchor (an issuing CA
/// alone is enough: partial chains are accepted), the same certificates are the acceptable CAs named
/// in the CertificateRequest, and the chain may be at most `verifyDepth` certificates deep below the
/// leaf. OpenSSL also checks the leaf is fit for client authentication (no EKU, or one naming
/// `clientAuth`). A certificate that is presented but does not verify fails the handshake in both
/// modes; `optional` only lets a client that presents none through.
public struct ClientCertificatePolicy: Sendable {
    /// What a client without a certificate gets.
    public enum Mode: String, Sendable, CaseIterable {
        /// Asked for; a client may present none (routes can still require one).
        case optional
        /// Asked for; a handshake without one fails.
        case required
    }

    /// How the listener asks.
    public var mode: Mode
    /// The trusted CAs, in file order (never empty).
    public let authorities: [X509Certificate]
    /// Where they came from, for messages.
    public let source: String
    /// The longest chain accepted (intermediates between the leaf and a trust anchor).
    public var verifyDepth: Int

    /// The depth nginx and IIS accept by default for client certificates, with room for one more.
    public static let defaultVerifyDepth = 4

    /// A policy over CAs already loaded. Throws when `authorities` is empty.
    public init(mode: Mode, authorities: [X509Certificate], source: String, verifyDepth: Int = ClientCertificatePolicy.defaultVerifyDepth)
        throws
    {
        guard !authorities.isEmpty else {
            throw TLSError(.configuration, "\(source): no CA certificate to verify client certificates with")
        }
        guard (0...16).contains(verifyDepth) else {
            throw TLSError(.configuration, "client certificates: verify depth \(verifyDepth) is outside 0...16")
        }
        self.mode = mode
        self.authorities = authorities
        self.source = source
        self.verifyDepth = verifyDepth
    }

    /// Reads the CA certificates from a PEM file (errors name the file).
    public static func load(mode: Mode, caFile: String) throws -> ClientCertificatePolicy {
        try ClientCertificatePolicy(mode: mode, authorities: try X509Certificate.chain(pemFile: caFile), source: caFile)
    }

    /// `SSL_VERIFY_PEER`, plus `SSL_VERIFY_FAIL_IF_NO_PEER_CERT` when required.
    var verifyMode: Int32 {
        mode == .required ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
    }

    /// A session id context (at most 32 bytes) that differs from the plain one and between CA sets
    /// and modes, so a session (or ticket) made without this verification, or under other CAs, is
    /// never resumed on this listener: a resumed session carries its old client certificate verdict.
    var sessionIDContext: [UInt8] {
        let hasher = SHA256Hasher()
        hasher.update(Array(mode.rawValue.utf8))
        for authority in authorities { hasher.update(authority.sha256Digest) }
        // 13 + 19 = 32 bytes.
        return Array("gatehouse-cc:".utf8) + Array(hasher.finalize().utf8.prefix(19))
    }
}

/// Owns the `X509_STORE` the listener's contexts verify client certificates with (one store shared
/// by every context of the listener: `SSL_CTX_set1_cert_store` takes a reference). Immutable after
/// init; OpenSSL locks the store for its lookups, hence `@unchecked Sendable`.
final class ClientCertificateTrust: @unchecked Sendable {
    let policy: ClientCertificatePolicy
    let store: OpaquePointer

    init(_ policy: ClientCertificatePolicy) throws {
        OpenSSLErrorQueue.clear()
        guard let store = X509_STORE_new() else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("client certificates: cannot create a certificate store"))
        }
        self.policy = policy
        self.store = store
        for authority in policy.authorities where X509_STORE_add_cert(store, authority.x509) != 1 {
            throw TLSError(
                .configuration, OpenSSLErrorQueue.describe("client certificates: \(policy.source): cannot add \(authority.subjectLine)"))
        }
        // Every certificate the operator listed is an anchor, an issuing CA without its root included.
        _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_PARTIAL_CHAIN))
    }

    deinit { X509_STORE_free(store) }
}
