import COpenSSL
import Foundation

/// A certificate chain (leaf first) with the private key of its leaf: what a listener serves.
public struct CertifiedKey: Sendable {
    /// The leaf certificate followed by its intermediates (never empty).
    public let chain: [X509Certificate]
    /// The private key matching `chain[0]`.
    public let key: PrivateKey
    /// The names the leaf covers, read once (the 421 check runs for every request).
    public let names: CertificateNames
    /// The checked OCSP response stapled for this certificate (`ocsp:`), if any.
    public var ocspStaple: OCSPStaple?

    /// The leaf certificate.
    public var leaf: X509Certificate { chain[0] }

    /// True when the leaf's key is an EC key (served to clients that offer ECDSA signatures).
    public var isECDSA: Bool { EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_EC }

    /// Pairs a chain with its key, refusing a key that is not the leaf's.
    /// - Parameter source: names the origin for error messages.
    public init(chain: [X509Certificate], key: PrivateKey, source: String = "certificate") throws {
        guard let leaf = chain.first else {
            throw TLSError(.invalidPEM, "\(source): the certificate chain is empty")
        }
        guard key.matches(leaf) else {
            throw TLSError(
                .keyMismatch,
                "\(source): the private key does not match the certificate (\(leaf.subjectLine)); check that the key file belongs to this certificate"
            )
        }
        self.chain = chain
        self.key = key
        self.names = CertificateNames(leaf)
    }

    /// Loads a PEM chain (leaf first) and its PEM key.
    ///
    /// Refuses unreadable files, bad PEM and a key that does not match. Returns warnings for an
    /// expired or not-yet-valid leaf (refused instead when `strict`) and for a key file that group or
    /// others may read.
    public static func load(
        certificatePath: String, keyPath: String, strict: Bool = false,
        now: Date = Date()
    ) throws -> (CertifiedKey, warnings: [String]) {
        let chain = try X509Certificate.chain(pemFile: certificatePath)
        let key = try PrivateKey(pemFile: keyPath)
        let certified = try CertifiedKey(chain: chain, key: key, source: "\(certificatePath) + \(keyPath)")
        var warnings: [String] = []
        let leaf = certified.leaf
        let formatter = ISO8601DateFormatter()
        if now > leaf.notAfter {
            let message =
                "\(certificatePath): certificate \(leaf.subjectLine) expired on \(formatter.string(from: leaf.notAfter)); renew it"
            if strict { throw TLSError(.certificateExpired, message) }
            warnings.append(message)
        } else if now < leaf.notBefore {
            let message =
                "\(certificatePath): certificate \(leaf.subjectLine) is not valid before \(formatter.string(from: leaf.notBefore)); check the clock or the certificate"
            if strict { throw TLSError(.certificateNotYetValid, message) }
            warnings.append(message)
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: keyPath),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value, mode & 0o077 != 0
        {
            warnings.append(
                "\(keyPath): private key file is readable by group/others (mode \(String(mode & 0o777, radix: 8))); run `chmod 600 \(keyPath)`"
            )
        }
        return (certified, warnings)
    }
}
