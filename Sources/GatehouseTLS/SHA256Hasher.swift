import COpenSSL
import NIOCore

/// Incremental SHA-256 over OpenSSL's EVP interface, for hashing bodies as they stream
/// (the mailbox simulator reports `{"bytes":N,"sha256":...}` without buffering a body).
///
/// Owns one `EVP_MD_CTX*`, freed in `deinit`. Not thread-safe: one hasher per stream.
public final class SHA256Hasher {
    /// The owned digest context. Internal: C types never leave GatehouseTLS.
    private let context: OpaquePointer
    /// The hex digest once `finalize()` has run; later calls return it again.
    private var digest: String?

    /// Starts a new SHA-256 computation.
    public init() {
        // EVP_MD_CTX_new only fails when memory is exhausted; there is no sensible recovery.
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        self.context = context
        // EVP_sha256() is a static method table; DigestInit_ex returns 1 on success.
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            EVP_MD_CTX_free(context)
            fatalError("EVP_DigestInit_ex(SHA-256) failed")
        }
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds `bytes` into the digest. Must not be called after `finalize()`.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(digest == nil, "SHA256Hasher.update called after finalize()")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        // DigestUpdate only fails on a misconfigured context, which init rules out.
        _ = EVP_DigestUpdate(context, base, bytes.count)
    }

    /// Feeds the readable bytes of `buffer` into the digest (the buffer's reader index is not moved).
    public func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { update($0) }
    }

    /// Feeds `bytes` into the digest.
    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes the computation and returns the digest as 64 lowercase hex characters.
    /// Calling it again returns the same value.
    public func finalize() -> String {
        if let digest { return digest }
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = output.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        let hex = Self.hex(output.prefix(Int(length)))
        digest = hex
        return hex
    }

    /// Lowercase hex of `bytes`.
    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
