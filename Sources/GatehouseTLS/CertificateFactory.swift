import COpenSSL

/// What a new certificate should say: its subject, names, lifetime and whether it is a CA.
public struct CertificateSpec: Sendable, Equatable {
    /// End entity (a server certificate) or certificate authority.
    public enum Kind: Sendable, Equatable {
        /// basicConstraints CA:FALSE, EKU serverAuth, key usage digitalSignature (+ keyEncipherment for RSA).
        case serverEndEntity
        /// basicConstraints CA:TRUE (critical), key usage keyCertSign + cRLSign.
        case certificateAuthority
    }

    public var subject: DistinguishedName
    /// DNS names for the subjectAltName extension (may include one `*.` wildcard label each).
    public var dnsNames: [String]
    /// Days from now until notAfter.
    public var validityDays: Int
    public var kind: Kind

    public init(subject: DistinguishedName, dnsNames: [String], validityDays: Int, kind: Kind = .serverEndEntity) {
        self.subject = subject
        self.dnsNames = dnsNames
        self.validityDays = validityDays
        self.kind = kind
    }

    /// Exchange's default back-end certificate (New-ExchangeCertificate on a mailbox server):
    /// CN=<name>, SANs <name> and <fqdn>, valid five years.
    public static func exchangeBackEnd(name: String, fqdn: String, validityDays: Int = 1825) -> CertificateSpec {
        var names = [name]
        if fqdn.lowercased() != name.lowercased() { names.append(fqdn) }
        return CertificateSpec(subject: DistinguishedName(commonName: name), dnsNames: names, validityDays: validityDays)
    }

    /// Checks the names and lifetime, returning the spec with DNS names lower-cased and de-duplicated.
    /// - Throws: `TLSError(.invalidName)` / `.configuration` saying what is wrong.
    public func validated() throws -> CertificateSpec {
        guard (1...36_500).contains(validityDays) else {
            throw TLSError(.configuration, "validity of \(validityDays) days: it must be between 1 and 36500 days (--days)")
        }
        var seen = Set<String>()
        var names: [String] = []
        for name in dnsNames {
            let checked = try HostNameRules.validate(name, allowWildcard: true, source: "DNS name")
            if seen.insert(checked).inserted { names.append(checked) }
        }
        if kind == .serverEndEntity {
            if let commonName = subject.commonName {
                // A server certificate's CN is a host name that clients may still match on.
                try HostNameRules.validate(commonName, allowWildcard: true, source: "common name (CN)")
            }
            guard !names.isEmpty else {
                throw TLSError(
                    .invalidName, "a server certificate needs at least one DNS name (clients ignore the CN when names are missing)")
            }
        }
        var copy = self
        copy.dnsNames = names
        return copy
    }
}

/// Makes certificates with OpenSSL: Exchange-style self-signed back-end certificates, a small lab
/// root CA, and leaf certificates issued by that CA. Every certificate is X.509 v3, SHA-256 signed,
/// with a random 16-byte serial and a subject key identifier.
public enum CertificateFactory {
    /// Makes a self-signed certificate for `key` (a server certificate or a root CA, by `spec.kind`).
    public static func selfSigned(_ spec: CertificateSpec, key: PrivateKey) throws -> X509Certificate {
        try build(spec.validated(), subjectKey: key, issuer: nil, issuerKey: key)
    }

    /// Issues a certificate for `subjectKey`, signed by the CA `issuer` with `issuerKey`.
    /// - Throws: when the CA key does not match the CA certificate, the issuer is not a CA, the CA has
    ///   expired, or the new certificate would outlive the CA.
    public static func issue(
        _ spec: CertificateSpec, subjectKey: PrivateKey, issuer: X509Certificate,
        issuerKey: PrivateKey, issuerSource: String = "CA"
    ) throws -> X509Certificate {
        let spec = try spec.validated()
        guard issuerKey.matches(issuer) else {
            throw TLSError(.keyMismatch, "\(issuerSource): the CA private key does not belong to the CA certificate")
        }
        // X509_check_ca returns 0 when the certificate may not sign others, >= 1 otherwise.
        guard X509_check_ca(issuer.x509) >= 1 else {
            throw TLSError(
                .configuration, "\(issuerSource): the certificate is not a CA (basicConstraints CA:TRUE with keyCertSign is needed)")
        }
        // X509_cmp_time returns -1 when the time is before now (expired), 0 on error.
        if X509_cmp_time(X509_get0_notAfter(issuer.x509), nil) < 0 {
            throw TLSError(.certificateExpired, "\(issuerSource): the CA certificate has expired")
        }
        var horizon = time(nil) + time_t(spec.validityDays) * 86_400
        // X509_cmp_time returns 1 when the CA's notAfter is later than the horizon.
        if X509_cmp_time(X509_get0_notAfter(issuer.x509), &horizon) < 0 {
            throw TLSError(
                .configuration,
                "\(issuerSource): a certificate valid for \(spec.validityDays) days would outlive the CA; choose fewer --days")
        }
        return try build(spec, subjectKey: subjectKey, issuer: issuer, issuerKey: issuerKey)
    }

    /// Assembles and signs the certificate. `issuer == nil` means self-signed.
    static func build(
        _ spec: CertificateSpec, subjectKey: PrivateKey, issuer: X509Certificate?,
        issuerKey: PrivateKey
    ) throws -> X509Certificate {
        OpenSSLErrorQueue.clear()
        guard let x509 = X509_new() else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot allocate a certificate"))
        }
        // From here the wrapper owns x509 and frees it if we throw.
        let certificate = X509Certificate(takingOwnership: x509)
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot \(what)")) }
        }
        // X509 version field is zero-based: 2 means v3 (needed for extensions). 1 = success.
        try check(COpenSSL_X509_set_version(x509, 2) == 1, "set the version")
        try setRandomSerial(x509)

        let subjectName = try spec.subject.makeX509Name()
        // X509_set_*_name copy the name, so ours is freed right after.
        defer { X509_NAME_free(subjectName) }
        try check(X509_set_subject_name(x509, subjectName) == 1, "set the subject")
        let issuerName = issuer.map { X509_get_subject_name($0.x509) } ?? subjectName
        try check(X509_set_issuer_name(x509, issuerName) == 1, "set the issuer")

        // notBefore = now, notAfter = now + days; both return the updated time, nil on failure.
        try check(X509_gmtime_adj(X509_getm_notBefore(x509), 0) != nil, "set notBefore")
        try check(X509_time_adj_ex(X509_getm_notAfter(x509), Int32(spec.validityDays), 0, nil) != nil, "set notAfter")
        // X509_set_pubkey takes its own reference to the key (and keeps only the public half).
        try check(X509_set_pubkey(x509, subjectKey.pkey) == 1, "set the public key")

        for (nid, value) in extensions(
            for: spec, keyIsRSA: EVP_PKEY_get_base_id(subjectKey.pkey) == EVP_PKEY_RSA,
            selfSigned: issuer == nil)
        {
            try addExtension(nid, value, to: x509, issuer: issuer?.x509 ?? x509)
        }
        // X509_sign returns the signature size (> 0) on success.
        try check(X509_sign(x509, issuerKey.pkey, EVP_sha256()) > 0, "sign the certificate")
        return certificate
    }

    /// The v3 extensions, in the order `openssl x509 -text` shows them, as OpenSSL config values.
    static func extensions(for spec: CertificateSpec, keyIsRSA: Bool, selfSigned: Bool) -> [(Int32, String)] {
        var list: [(Int32, String)] = []
        switch spec.kind {
        case .serverEndEntity:
            list.append((NID_basic_constraints, "critical,CA:FALSE"))
            list.append((NID_key_usage, keyIsRSA ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"))
            list.append((NID_ext_key_usage, "serverAuth"))
        case .certificateAuthority:
            list.append((NID_basic_constraints, "critical,CA:TRUE"))
            list.append((NID_key_usage, "critical,keyCertSign,cRLSign"))
        }
        list.append((NID_subject_key_identifier, "hash"))
        // The authority key id links a leaf to its CA's subject key id; a lone self-signed end-entity
        // certificate (Exchange's own) has no authority to point at.
        if !selfSigned || spec.kind == .certificateAuthority {
            list.append((NID_authority_key_identifier, "keyid:always"))
        }
        if !spec.dnsNames.isEmpty {
            // Safe to pass as config text: every name passed HostNameRules (only [a-z0-9.-*]), so
            // none can smuggle a ',' or ':' into OpenSSL's extension syntax.
            list.append((NID_subject_alt_name, spec.dnsNames.map { "DNS:\($0)" }.joined(separator: ",")))
        }
        return list
    }

    /// Adds one extension built from OpenSSL's config syntax (`critical,CA:FALSE`, `hash`, ...).
    static func addExtension(_ nid: Int32, _ value: String, to x509: OpaquePointer, issuer: OpaquePointer) throws {
        var context = X509V3_CTX()
        // The context only borrows the two certificates for key-identifier computation.
        X509V3_set_ctx(&context, issuer, x509, nil, nil, 0)
        guard let extensionObject = X509V3_EXT_nconf_nid(nil, &context, nid, value) else {
            let name = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "\(nid)"
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot build the \(name) extension \"\(value)\""))
        }
        // X509_add_ext copies the extension; ours is freed either way.
        defer { X509_EXTENSION_free(extensionObject) }
        guard X509_add_ext(x509, extensionObject, -1) == 1 else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot add extension \(value)"))
        }
    }

    /// Sets a random, positive 16-byte serial number (RFC 5280: at most 20 octets, unpredictable).
    static func setRandomSerial(_ x509: OpaquePointer) throws {
        var bytes = [UInt8](repeating: 0, count: 16)
        // RAND_bytes returns 1 on success.
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("no random bytes for the serial number"))
        }
        // Top bit clear keeps the DER INTEGER positive; bit 6 set keeps it exactly 16 bytes long.
        bytes[0] = (bytes[0] & 0x7F) | 0x40
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot make the serial number"))
        }
        defer { BN_free(number) }
        // X509_get_serialNumber returns the certificate's own ASN1_INTEGER, which BN_to_ASN1_INTEGER fills in place.
        guard BN_to_ASN1_INTEGER(number, X509_get_serialNumber(x509)) != nil else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot set the serial number"))
        }
    }
}
