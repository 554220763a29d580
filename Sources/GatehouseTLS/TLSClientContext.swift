import COpenSSL
import Foundation

/// The client side of TLS towards backends (re-encryption): one `SSL_CTX` holding the trust
/// (`BackendTrust`), the policy, the ALPN offer, and the last session per backend name so new
/// backend connections resume.
///
/// Immutable after init except the session cache, which is behind a lock:
/// `@unchecked Sendable` for that reason.
public final class TLSClientContext: @unchecked Sendable {
    /// The trust this context verifies backends against.
    public let trust: BackendTrust
    /// The policy used.
    public let policy: TLSPolicy
    /// ALPN protocols offered.
    public let alpn: [String]

    let context: TLSContext
    /// Normalised SHA-256 pins (empty: no pinning).
    let pins: Set<String>
    /// Last resumable session per backend name.
    private var sessions: [String: TLSSession] = [:]
    private let sessionsLock = NSLock()

    /// Builds the context. Throws for a bad policy, ALPN list, pin, or an unreadable CA bundle, and
    /// when the trust is empty (nothing could ever verify).
    public init(trust: BackendTrust, policy: TLSPolicy = .exchangeDefault, alpn: [String] = ["http/1.1"]) throws {
        self.trust = trust
        self.policy = policy
        self.alpn = alpn
        self.pins = try trust.normalizedPins()
        let context = try TLSContext(role: .client, policy: policy)
        self.context = context
        try Self.installTrust(trust, on: context)
        let alpnList = try ALPNList(alpn)
        if !alpnList.wire.isEmpty {
            // SSL_CTX_set_alpn_protos returns 0 on success (unlike most of OpenSSL).
            guard alpnList.wire.withUnsafeBufferPointer({ SSL_CTX_set_alpn_protos(context.ctx, $0.baseAddress, UInt32($0.count)) }) == 0
            else {
                throw TLSError(.configuration, OpenSSLErrorQueue.describe("ALPN: cannot set \(alpn)"))
            }
        }
        SSL_CTX_set_verify(context.ctx, SSL_VERIFY_PEER, verifyCallback)
        // Sessions: the client cache is ours (per backend name), not OpenSSL's internal one.
        _ = COpenSSL_SSL_CTX_set_session_cache_mode(context.ctx, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE))
        SSL_CTX_sess_set_new_cb(context.ctx, newSessionCallback)
    }

    /// Anchors, CA bundle, system store; PARTIAL_CHAIN so a trusted non-CA leaf is an anchor.
    private static func installTrust(_ trust: BackendTrust, on context: TLSContext) throws {
        guard let store = SSL_CTX_get_cert_store(context.ctx) else {
            throw TLSError(.internalError, "backend trust: no certificate store")
        }
        var anchors = trust.trustedCertificates.count
        for certificate in trust.trustedCertificates {
            // X509_STORE_add_cert takes its own reference; adding a duplicate is not an error in 3.0.
            guard X509_STORE_add_cert(store, certificate.x509) == 1 else {
                throw TLSError(.configuration, OpenSSLErrorQueue.describe("backend trust: cannot add \(certificate.subjectLine)"))
            }
        }
        if let path = trust.caBundlePath {
            let bundle = try X509Certificate.chain(pemFile: path)
            for certificate in bundle where X509_STORE_add_cert(store, certificate.x509) != 1 {
                throw TLSError(.configuration, OpenSSLErrorQueue.describe("backend trust: \(path): cannot add \(certificate.subjectLine)"))
            }
            anchors += bundle.count
        }
        if trust.useSystemStore {
            guard SSL_CTX_set_default_verify_paths(context.ctx) == 1 else {
                throw TLSError(.configuration, OpenSSLErrorQueue.describe("backend trust: cannot load the system CA store"))
            }
            anchors += 1
        }
        guard anchors > 0 else {
            throw TLSError(.configuration, "backend trust: nothing is trusted; give trusted certificates, a CA bundle, or useSystemStore")
        }
        _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_PARTIAL_CHAIN))
    }

    /// The cached session for `serverName`, if still resumable.
    func session(for serverName: String) -> TLSSession? {
        sessionsLock.lock()
        defer { sessionsLock.unlock() }
        guard let session = sessions[serverName] else { return nil }
        if SSL_SESSION_is_resumable(session.session) == 1 { return session }
        sessions[serverName] = nil
        return nil
    }

    /// Remembers the newest session for `serverName`.
    func store(_ session: TLSSession, for serverName: String) {
        sessionsLock.lock()
        sessions[serverName] = session
        sessionsLock.unlock()
    }

    /// Forgets the session of a backend (after a verification failure, say).
    func forgetSession(for serverName: String) {
        sessionsLock.lock()
        sessions[serverName] = nil
        sessionsLock.unlock()
    }
}

/// Owns one `SSL_SESSION*` reference (freed in deinit). Immutable once made; OpenSSL reference
/// counts sessions atomically, so it is shared between loops: `@unchecked Sendable`.
final class TLSSession: @unchecked Sendable {
    let session: OpaquePointer
    /// Takes over one reference.
    init(takingOwnership session: OpaquePointer) { self.session = session }
    deinit { SSL_SESSION_free(session) }
}

/// New-session callback (client): OpenSSL hands us a reference; returning 1 says we keep it.
/// Recovers the connection through the SSL's app data (unretained: the connection owns the SSL).
private let newSessionCallback: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
    guard let ssl, let session, let raw = COpenSSL_SSL_get_app_data(ssl) else { return 0 }
    let connection = Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
    guard let client = connection.clientContext, let name = connection.expectedServerName else { return 0 }
    client.store(TLSSession(takingOwnership: session), for: name)
    return 1
}

/// Verify callback (client): records the first failure and the presented leaf on the connection
/// for the error message, checks that the leaf covers the backend's TLS name (`HostNameMatching`,
/// the rules the server side uses), and enforces SHA-256 pins on the leaf. Returns OpenSSL's verdict
/// (1 = continue, 0 = fail the handshake).
private let verifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverified, storeContext in
    guard let storeContext,
        let sslRaw = X509_STORE_CTX_get_ex_data(storeContext, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let raw = COpenSSL_SSL_get_app_data(OpaquePointer(sslRaw))
    else { return preverified }
    let connection = Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
    if connection.peerLeaf == nil, let leaf = X509_STORE_CTX_get0_cert(storeContext) {
        connection.peerLeaf = X509Certificate(retaining: leaf)
    }
    if preverified == 0 {
        if connection.failureReason == nil {
            let code = X509_STORE_CTX_get_error(storeContext)
            let depth = X509_STORE_CTX_get_error_depth(storeContext)
            let reason = String(cString: X509_verify_cert_error_string(Int(code)))
            connection.failureReason = depth > 0 ? "\(reason) (at chain depth \(depth))" : reason
        }
        return 0
    }
    if X509_STORE_CTX_get_error_depth(storeContext) == 0, let reference = connection.expectedReference,
        let leaf = connection.peerLeaf, !leaf.covers(reference)
    {
        let names = (leaf.dnsNames + leaf.ipAddresses).joined(separator: ", ")
        connection.failureReason =
            "hostname mismatch: the certificate does not cover \(connection.expectedServerName ?? "the backend's name") "
            + "(it names \(names.isEmpty ? "CN " + (leaf.commonName ?? "none") : names))"
        if case .ip = reference {
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_IP_ADDRESS_MISMATCH)
        } else {
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_HOSTNAME_MISMATCH)
        }
        return 0
    }
    if X509_STORE_CTX_get_error_depth(storeContext) == 0, let pins = connection.clientContext?.pins, !pins.isEmpty,
        let leaf = connection.peerLeaf, !pins.contains(leaf.sha256Fingerprint)
    {
        connection.failureReason = "the certificate's SHA-256 fingerprint matches none of the \(pins.count) pinned fingerprint(s)"
        X509_STORE_CTX_set_error(storeContext, X509_V_ERR_APPLICATION_VERIFICATION)
        return 0
    }
    return 1
}
