import COpenSSL

/// OCSP stapling: a certificate loaded with a checked `OCSPStaple` sends it to every client that
/// asks for it (the status_request extension); clients that do not ask get nothing extra.
extension CertificateStore {
    /// Installs the status callback. Done on every context of a store where any certificate has a
    /// staple, so the answer never depends on which context OpenSSL consults after the SNI switch:
    /// the callback itself staples only for the certificate chosen for the connection.
    static func installOCSPStapling(on context: TLSContext) {
        _ = COpenSSL_SSL_CTX_set_tlsext_status_cb(context.ctx, ocspStatusCallback)
    }
}

/// The C status callback: OpenSSL calls it only when the client sent status_request. The staple
/// is that of the certificate the client-hello callback chose. OpenSSL frees the response it is
/// given, so each handshake gets its own copy.
let ocspStatusCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
    guard let ssl, let raw = COpenSSL_SSL_get_app_data(ssl) else { return SSL_TLSEXT_ERR_NOACK }
    let connection = Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
    guard let staple = connection.selectedCertificate?.ocspStaple,
        let copy = COpenSSL_OPENSSL_malloc(staple.der.count)
    else { return SSL_TLSEXT_ERR_NOACK }
    staple.der.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    guard COpenSSL_SSL_set_tlsext_status_ocsp_resp(ssl, copy.assumingMemoryBound(to: UInt8.self), staple.der.count) == 1 else {
        COpenSSL_OPENSSL_free(copy)
        return SSL_TLSEXT_ERR_NOACK
    }
    return SSL_TLSEXT_ERR_OK
}
