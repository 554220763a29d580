import COpenSSL

/// The kinds of private key Gatehouse can generate: what Exchange uses (RSA 2048 by default) and the
/// ECDSA P-256 key that browsers and Outlook prefer when it is offered next to the RSA one.
public enum KeyAlgorithm: String, CaseIterable, Sendable, CustomStringConvertible {
    case rsa2048
    case rsa4096
    case p256

    /// True for the RSA kinds: they allow keyEncipherment in the key usage extension.
    public var isRSA: Bool { self != .p256 }

    /// The public key size in bits (as Get-ExchangeCertificate's PublicKeySize reports it).
    public var bits: Int {
        switch self {
        case .rsa2048: 2048
        case .rsa4096: 4096
        case .p256: 256
        }
    }

    public var description: String { rawValue }
}

extension PrivateKey {
    /// Generates a fresh private key of the given kind from OpenSSL's default (OS-seeded) DRBG.
    /// - Throws: `TLSError(.internalError)` with OpenSSL's reason if generation fails.
    public static func generate(_ algorithm: KeyAlgorithm) throws -> PrivateKey {
        OpenSSLErrorQueue.clear()
        // EVP_PKEY_Q_keygen is variadic and cannot be imported; use the explicit context steps.
        let context: OpaquePointer?
        switch algorithm {
        case .rsa2048, .rsa4096: context = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil)
        case .p256: context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil)
        }
        guard let context else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot create a key generation context"))
        }
        // The context is ours alone; it does not own the generated key.
        defer { EVP_PKEY_CTX_free(context) }
        // All EVP_PKEY_* calls below return 1 (or > 0) on success, <= 0 on failure.
        guard EVP_PKEY_keygen_init(context) > 0 else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot start \(algorithm) key generation"))
        }
        let configured: Int32
        switch algorithm {
        case .rsa2048, .rsa4096:
            configured = COpenSSL_EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(algorithm.bits))
        case .p256:
            configured = COpenSSL_EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1)
        }
        guard configured > 0 else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot configure \(algorithm) key generation"))
        }
        var generated: OpaquePointer? = nil
        guard EVP_PKEY_keygen(context, &generated) > 0, let generated else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("\(algorithm) key generation failed"))
        }
        // EVP_PKEY_keygen hands us one reference: PrivateKey frees it in deinit.
        return PrivateKey(takingOwnership: generated)
    }

    /// The key's type and size, e.g. "RSA 2048" or "EC P-256".
    public var keyDescription: String {
        PublicKeyFacts(pkey).description
    }
}

/// Type and size of a public or private key, read from an `EVP_PKEY` (which the caller keeps).
struct PublicKeyFacts: CustomStringConvertible {
    /// "RSA", "EC" or another OpenSSL short name.
    let type: String
    /// The key size in bits (modulus size for RSA, field size for EC).
    let bits: Int
    /// The curve's NIST name for EC keys ("P-256"), else nil.
    let curve: String?

    init(_ pkey: OpaquePointer) {
        bits = Int(EVP_PKEY_get_bits(pkey))
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA:
            type = "RSA"
            curve = nil
        case EVP_PKEY_EC:
            type = "EC"
            var name = [CChar](repeating: 0, count: 80)
            var length = 0
            // Returns 1 on success and writes the curve's short name ("prime256v1").
            if EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, &length) == 1 {
                let shortName = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let nid = OBJ_sn2nid(shortName)
                if let nist = EC_curve_nid2nist(nid) {
                    curve = String(cString: nist)
                } else {
                    curve = shortName
                }
            } else {
                curve = nil
            }
        default:
            let id = EVP_PKEY_get_base_id(pkey)
            if let shortName = OBJ_nid2sn(id) { type = String(cString: shortName) } else { type = "unknown" }
            curve = nil
        }
    }

    var description: String {
        if let curve { return "\(type) \(curve)" }
        return "\(type) \(bits)"
    }
}
