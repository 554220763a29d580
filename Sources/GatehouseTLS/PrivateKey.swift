import COpenSSL
import Foundation

/// A private key (RSA or EC), owning its `EVP_PKEY*` (freed in `deinit`).
/// Immutable after loading; `@unchecked Sendable` because EVP_PKEY is safe for concurrent use.
public final class PrivateKey: @unchecked Sendable {
    /// The owned OpenSSL object. Internal: C types never leave GatehouseTLS.
    let pkey: OpaquePointer

    /// Takes ownership of `pkey`: the caller must not free it.
    init(takingOwnership pkey: OpaquePointer) {
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Parses a PEM private key (PKCS#8, traditional RSA or EC). Encrypted keys are refused with
    /// a clear error rather than prompting for a password on the terminal.
    public convenience init(pem: [UInt8], source: String) throws {
        let text = String(decoding: pem, as: UTF8.self)
        if text.contains("ENCRYPTED") {
            throw TLSError(
                .encryptedKey,
                "\(source): the private key is password-protected; decrypt it with `openssl pkey -in FILE -out FILE.plain` (and keep that file mode 0600)"
            )
        }
        OpenSSLErrorQueue.clear()
        let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            // A passphrase callback that always fails: never block on a terminal prompt.
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let parsed else {
            let hint =
                pem.first == 0x30
                ? "it looks like DER (binary); convert it with `openssl pkey -inform der -in FILE -out FILE.pem`"
                : "expected a block starting with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)"
            throw TLSError(.invalidPEM, OpenSSLErrorQueue.describe("\(source): no PEM private key found: \(hint)"))
        }
        let type = EVP_PKEY_get_base_id(parsed)
        guard type == EVP_PKEY_RSA || type == EVP_PKEY_EC else {
            EVP_PKEY_free(parsed)
            throw TLSError(.unsupportedKey, "\(source): unsupported key type (only RSA and EC keys are supported)")
        }
        self.init(takingOwnership: parsed)
    }

    /// Reads a PEM private key file.
    public convenience init(pemFile path: String) throws {
        try self.init(pem: try readFile(path, what: "private key"), source: path)
    }

    /// True when this key is the private half of `certificate`'s public key.
    public func matches(_ certificate: X509Certificate) -> Bool {
        guard let publicKey = X509_get0_pubkey(certificate.x509) else { return false }
        return EVP_PKEY_eq(pkey, publicKey) == 1
    }

    /// The PEM encoding (unencrypted PKCS#8).
    public var pemString: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil)
        return BIOText.read(bio)
    }
}
