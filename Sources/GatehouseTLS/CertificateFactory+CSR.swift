import COpenSSL

/// A PKCS#10 certificate signing request, owning its `X509_REQ*` (freed in `deinit`).
/// Immutable once made; `@unchecked Sendable` because nothing mutates the request after signing.
public final class CertificateSigningRequest: @unchecked Sendable {
    /// The owned OpenSSL object. Internal: C types never leave GatehouseTLS.
    let request: OpaquePointer

    /// Takes ownership of `request`: the caller must not free it.
    init(takingOwnership request: OpaquePointer) {
        self.request = request
    }

    deinit { X509_REQ_free(request) }

    /// Parses a PEM request ("-----BEGIN CERTIFICATE REQUEST-----").
    public convenience init(pem: [UInt8], source: String) throws {
        OpenSSLErrorQueue.clear()
        // BIO_new_mem_buf does not copy: the BIO must not outlive this closure.
        let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509_REQ(bio, nil, nil, nil)
        }
        guard let parsed else {
            throw TLSError(
                .invalidPEM,
                OpenSSLErrorQueue.describe(
                    "\(source): no PEM certificate request found (expected -----BEGIN CERTIFICATE REQUEST-----)"))
        }
        self.init(takingOwnership: parsed)
    }

    /// The PEM encoding ("-----BEGIN CERTIFICATE REQUEST-----...").
    public var pemString: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        PEM_write_bio_X509_REQ(bio, request)
        return BIOText.read(bio)
    }

    /// True when the request's signature verifies with its own public key (proof of possession).
    public var signatureIsValid: Bool {
        guard let key = X509_REQ_get0_pubkey(request) else { return false }
        OpenSSLErrorQueue.clear()
        // X509_REQ_verify returns 1 when valid, 0 when not, < 0 on error.
        let result = X509_REQ_verify(request, key)
        OpenSSLErrorQueue.clear()
        return result == 1
    }

    /// The DNS names of the request's subjectAltName extension, in order.
    public var dnsNames: [String] {
        guard let extensions = X509_REQ_get_extensions(request) else { return [] }
        // X509_REQ_get_extensions returns a new stack we own, with owned elements.
        defer { COpenSSL_sk_X509_EXTENSION_pop_free(extensions) }
        var names: [String] = []
        for index in 0..<COpenSSL_sk_X509_EXTENSION_num(extensions) {
            guard let ext = COpenSSL_sk_X509_EXTENSION_value(extensions, index),
                OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name,
                let decoded = X509V3_EXT_d2i(ext)
            else { continue }
            // X509V3_EXT_d2i gives us a GENERAL_NAMES stack of our own for the SAN extension.
            let generalNames = OpaquePointer(decoded)
            defer { COpenSSL_GENERAL_NAMES_free(generalNames) }
            names += CertificateFactsText.dnsNames(in: generalNames)
        }
        return names
    }

    /// The subject, e.g. "C=US, O=Contoso, CN=mail.contoso.com".
    public var subjectLine: String {
        X509Certificate.nameLine(X509_REQ_get_subject_name(request))
    }

    /// The public key's type and size, e.g. "RSA 2048".
    public var publicKeyDescription: String {
        guard let key = X509_REQ_get0_pubkey(request) else { return "none" }
        return PublicKeyFacts(key).description
    }
}

extension CertificateFactory {
    /// Makes a SHA-256 signed PKCS#10 request for `key` with a subjectAltName of `dnsNames`
    /// (what a public CA needs to issue mail/autodiscover certificates).
    /// - Throws: `TLSError(.invalidName)` for names that break host-name rules, or when there is no name.
    public static func request(subject: DistinguishedName, dnsNames: [String], key: PrivateKey) throws -> CertificateSigningRequest {
        let spec = try CertificateSpec(subject: subject, dnsNames: dnsNames, validityDays: 1).validated()
        OpenSSLErrorQueue.clear()
        guard let raw = X509_REQ_new() else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot allocate a certificate request"))
        }
        // The wrapper owns the request from here and frees it if we throw.
        let request = CertificateSigningRequest(takingOwnership: raw)
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot \(what)")) }
        }
        // PKCS#10 has only version 1, encoded as 0. Returns 1 on success.
        try check(X509_REQ_set_version(raw, 0) == 1, "set the request version")
        let name = try spec.subject.makeX509Name()
        // X509_REQ_set_subject_name copies the name.
        defer { X509_NAME_free(name) }
        try check(X509_REQ_set_subject_name(raw, name) == 1, "set the request subject")
        // Takes its own reference to the key's public half.
        try check(X509_REQ_set_pubkey(raw, key.pkey) == 1, "set the request public key")

        guard let stack = COpenSSL_sk_X509_EXTENSION_new_null() else {
            throw TLSError(.internalError, "cannot allocate the extension list")
        }
        // The stack and its elements are ours; X509_REQ_add_extensions encodes a copy.
        defer { COpenSSL_sk_X509_EXTENSION_pop_free(stack) }
        let keyIsRSA = EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_RSA
        let wanted: [(Int32, String)] = [
            (NID_subject_alt_name, spec.dnsNames.map { "DNS:\($0)" }.joined(separator: ",")),
            (NID_key_usage, keyIsRSA ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"),
            (NID_ext_key_usage, "serverAuth")
        ]
        for (nid, value) in wanted {
            var context = X509V3_CTX()
            X509V3_set_ctx(&context, nil, nil, raw, nil, 0)
            // Names passed HostNameRules, so the config text cannot be smuggled into other syntax.
            guard let ext = X509V3_EXT_nconf_nid(nil, &context, nid, value) else {
                throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot build the request extension \"\(value)\""))
            }
            // sk_push returns the new count (> 0); on failure we still own ext and must free it.
            if COpenSSL_sk_X509_EXTENSION_push(stack, ext) <= 0 {
                X509_EXTENSION_free(ext)
                throw TLSError(.internalError, "cannot collect the request extensions")
            }
        }
        try check(X509_REQ_add_extensions(raw, stack) == 1, "add the request extensions")
        // X509_REQ_sign returns the signature size (> 0) on success.
        try check(X509_REQ_sign(raw, key.pkey, EVP_sha256()) > 0, "sign the request")
        return request
    }
}
