import COpenSSL

/// Digests of the DER certificate, as admins and pin lists write them.
extension X509Certificate {
    /// SHA-1 of the DER encoding, uppercase hex without separators: Exchange's "Thumbprint".
    public var sha1Thumbprint: String { digestHex(EVP_sha1()) }

    /// SHA-256 of the DER encoding, uppercase hex without separators (used for pins).
    public var sha256Fingerprint: String { digestHex(EVP_sha256()) }

    /// Raw SHA-256 digest bytes of the DER encoding.
    var sha256Digest: [UInt8] { digest(EVP_sha256()) }

    /// The digest of the DER encoding with `type` (an EVP_MD).
    private func digest(_ type: OpaquePointer?) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // X509_digest returns 1 on success and writes `length` bytes (<= EVP_MAX_MD_SIZE).
        guard X509_digest(x509, type, &buffer, &length) == 1 else { return [] }
        return Array(buffer.prefix(Int(length)))
    }

    /// `digest` as uppercase hex.
    private func digestHex(_ type: OpaquePointer?) -> String {
        HexText.upper(digest(type))
    }
}

/// Hex formatting and parsing for fingerprints.
enum HexText {
    private static let digits = Array("0123456789ABCDEF".utf8)

    /// Uppercase hex, no separators.
    static func upper(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Normalises a fingerprint as people write it ("ab:cd:..", "AB CD..", "abcd..") to uppercase hex
    /// without separators; nil when anything other than hex digits and separators appears.
    static func normalizeFingerprint(_ text: String) -> String? {
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "F"): out.append(byte)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): out.append(byte - 32)
            case UInt8(ascii: ":"), UInt8(ascii: " "), UInt8(ascii: "-"): continue
            default: return nil
            }
        }
        return out.isEmpty ? nil : String(decoding: out, as: UTF8.self)
    }
}
