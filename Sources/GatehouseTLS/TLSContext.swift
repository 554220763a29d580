import COpenSSL

/// Owns one `SSL_CTX*` (freed in deinit). Configured once at start, then only read, so it is shared
/// by all event loops: `@unchecked Sendable` because OpenSSL locks its own mutable parts (session
/// cache, reference counts) internally.
///
/// A distinct type from `TLSConnection` (which owns an `SSL*`) so the two can never be confused
/// (both are `OpaquePointer` to Swift).
final class TLSContext: @unchecked Sendable {
    /// The role the context serves.
    enum Role { case server, client }

    let ctx: OpaquePointer
    let role: Role

    /// Creates a context and applies `policy` (validated first).
    init(role: Role, policy: TLSPolicy) throws {
        try policy.validate()
        OpenSSLErrorQueue.clear()
        let method = role == .server ? TLS_server_method() : TLS_client_method()
        guard let ctx = SSL_CTX_new(method) else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot create an SSL_CTX"))
        }
        self.ctx = ctx
        self.role = role
        try apply(policy)
    }

    deinit { SSL_CTX_free(ctx) }

    /// Versions, ciphers, groups and options. Every ctrl returns 1 on success, 0 on failure.
    private func apply(_ policy: TLSPolicy) throws {
        guard COpenSSL_SSL_CTX_set_min_proto_version(ctx, policy.minimumVersion.openSSLValue) == 1,
            COpenSSL_SSL_CTX_set_max_proto_version(ctx, policy.maximumVersion.openSSLValue) == 1
        else {
            throw TLSError(.configuration, OpenSSLErrorQueue.describe("TLS policy: cannot set protocol versions"))
        }
        if policy.minimumVersion == .tls1_2 || policy.maximumVersion == .tls1_2 {
            guard SSL_CTX_set_cipher_list(ctx, policy.cipherList) == 1 else {
                throw TLSError(
                    .configuration, OpenSSLErrorQueue.describe("TLS policy: cipherList \"\(policy.cipherList)\" selects no cipher"))
            }
        }
        guard SSL_CTX_set_ciphersuites(ctx, policy.cipherSuites) == 1 else {
            throw TLSError(.configuration, OpenSSLErrorQueue.describe("TLS policy: bad cipherSuites \"\(policy.cipherSuites)\""))
        }
        let groups = policy.groups.joined(separator: ":")
        guard COpenSSL_SSL_CTX_set1_groups_list(ctx, groups) == 1 else {
            throw TLSError(.configuration, OpenSSLErrorQueue.describe("TLS policy: bad groups \"\(groups)\""))
        }
        var options =
            COpenSSL_SSL_OP_NO_COMPRESSION() | COpenSSL_SSL_OP_NO_RENEGOTIATION()
            | COpenSSL_SSL_OP_NO_SSLv3() | COpenSSL_SSL_OP_NO_TLSv1() | COpenSSL_SSL_OP_NO_TLSv1_1()
        if role == .server && policy.serverCipherPreference { options |= COpenSSL_SSL_OP_CIPHER_SERVER_PREFERENCE() }
        if !policy.sessionTickets { options |= COpenSSL_SSL_OP_NO_TICKET() }
        SSL_CTX_set_options(ctx, options)
        // RELEASE_BUFFERS frees the 16 KiB+ record buffers of idle connections (memory per
        // connection is a target); ACCEPT_MOVING_WRITE_BUFFER lets a retried SSL_write use a new
        // pointer (ByteBuffer storage may move between calls).
        _ = COpenSSL_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        SSL_CTX_set_timeout(ctx, Int(policy.sessionLifetimeSeconds))
    }

    /// Installs a leaf certificate, its chain and key (server role), and checks they match.
    func use(_ certified: CertifiedKey) throws {
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_use_certificate(ctx, certified.leaf.x509) == 1 else {
            throw TLSError(.configuration, OpenSSLErrorQueue.describe("cannot use certificate \(certified.leaf.subjectLine)"))
        }
        if certified.chain.count > 1 {
            // set1_chain takes its own references to the stack's certificates; the stack itself is ours.
            guard let stack = COpenSSL_sk_X509_new_null() else {
                throw TLSError(.internalError, "cannot allocate a certificate stack")
            }
            defer { COpenSSL_sk_X509_free(stack) }
            for certificate in certified.chain.dropFirst() { _ = COpenSSL_sk_X509_push(stack, certificate.x509) }
            guard COpenSSL_SSL_CTX_set1_chain(ctx, stack) == 1 else {
                throw TLSError(.configuration, OpenSSLErrorQueue.describe("cannot use the chain of \(certified.leaf.subjectLine)"))
            }
        }
        guard SSL_CTX_use_PrivateKey(ctx, certified.key.pkey) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError(
                .keyMismatch, OpenSSLErrorQueue.describe("the private key does not match certificate \(certified.leaf.subjectLine)"))
        }
    }

    /// Gives all server contexts of one store the same session id context, so a session made
    /// under one certificate's context can be looked up after `SSL_set_SSL_CTX`.
    func setSessionIDContext(_ value: [UInt8]) {
        _ = value.withUnsafeBufferPointer { SSL_CTX_set_session_id_context(ctx, $0.baseAddress, UInt32($0.count)) }
    }
}
