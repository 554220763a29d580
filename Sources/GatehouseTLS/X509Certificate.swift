import COpenSSL
import Foundation

/// One X.509 certificate, owning its `X509*` (freed in `deinit`).
///
/// Immutable once loaded, so it is shared freely between threads: `@unchecked Sendable` because
/// OpenSSL's X509 objects are safe for concurrent reads.
public final class X509Certificate: @unchecked Sendable {
    /// The owned OpenSSL object. Internal: C types never leave GatehouseTLS.
    let x509: OpaquePointer

    /// Takes ownership of `x509` (one reference): the caller must not free it.
    init(takingOwnership x509: OpaquePointer) {
        self.x509 = x509
    }

    /// Adds a reference to `x509` and wraps it; the caller keeps its own reference.
    init(retaining x509: OpaquePointer) {
        X509_up_ref(x509)
        self.x509 = x509
    }

    deinit { X509_free(x509) }

    /// Parses every certificate in a PEM text (leaf first, then its chain), in order.
    /// - Parameter source: names the origin (usually a file path) for error messages.
    public static func chain(pem: [UInt8], source: String) throws -> [X509Certificate] {
        OpenSSLErrorQueue.clear()
        // BIO_new_mem_buf does not copy: the BIO must not outlive this closure.
        let certificates: [X509Certificate] = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return [] }
            defer { BIO_free(bio) }
            var result: [X509Certificate] = []
            while let x509 = PEM_read_bio_X509(bio, nil, nil, nil) {
                result.append(X509Certificate(takingOwnership: x509))
            }
            return result
        }
        // Reading past the last PEM block leaves a "no start line" error on the queue: expected.
        OpenSSLErrorQueue.clear()
        if certificates.isEmpty {
            let looksDER = pem.first == 0x30
            let hint =
                looksDER
                ? "it looks like DER (binary); convert it with `openssl x509 -inform der -in FILE -out FILE.pem`"
                : "expected a block starting with -----BEGIN CERTIFICATE-----"
            throw TLSError(.invalidPEM, "\(source): no PEM certificate found: \(hint)")
        }
        return certificates
    }

    /// Reads a PEM file holding a certificate and, optionally, its chain.
    public static func chain(pemFile path: String) throws -> [X509Certificate] {
        try chain(pem: try readFile(path, what: "certificate"), source: path)
    }

    /// Parses one DER-encoded certificate.
    public convenience init(der: [UInt8], source: String) throws {
        OpenSSLErrorQueue.clear()
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &pointer, buffer.count)
        }
        guard let parsed else {
            throw TLSError(.invalidPEM, OpenSSLErrorQueue.describe("\(source): not a DER certificate"))
        }
        self.init(takingOwnership: parsed)
    }

    /// The DER encoding.
    public var derBytes: [UInt8] {
        let length = i2d_X509(x509, nil)
        guard length > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_X509(x509, &pointer)
        }
        return bytes
    }

    /// The PEM encoding ("-----BEGIN CERTIFICATE-----...").
    public var pemString: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        PEM_write_bio_X509(bio, x509)
        return BIOText.read(bio)
    }
}

/// Reading whole files with errors that name the file; shared by certificate and key loading.
func readFile(_ path: String, what: String) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else {
        throw TLSError(.fileUnreadable, "\(path): \(what) file does not exist")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TLSError(.fileUnreadable, "\(path): \(what) file cannot be read (check its permissions)")
    }
    return [UInt8](data)
}

/// Copying the contents of a memory BIO out as text.
enum BIOText {
    static func read(_ bio: OpaquePointer) -> String {
        var pointer: UnsafeMutablePointer<CChar>? = nil
        let length = COpenSSL_BIO_get_mem_data(bio, &pointer)
        guard length > 0, let pointer else { return "" }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: Int(length))
        return String(decoding: bytes, as: UTF8.self)
    }
}
