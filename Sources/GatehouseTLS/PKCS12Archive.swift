import COpenSSL

/// PKCS#12 (`.pfx`) files: a certificate, its chain and its private key under one password,
/// the form Windows and `Import-ExchangeCertificate` take. Used to put the front end's own
/// certificate on the Exchange servers, so Extended Protection's channel binding matches.
public enum PKCS12Archive {
    /// Key derivation iterations for the encryption and the MAC (OpenSSL's default).
    static let iterations: Int32 = 2048

    /// Encodes `certified` (leaf, key and the chain it carries) plus `extraChain`, encrypting key
    /// and certificates with AES-256-CBC (PBKDF2) and protecting the file with a SHA-256 MAC:
    /// what Windows Server 2016 and later import (no RC2/3DES, no SHA-1 MAC).
    /// - Parameter friendlyName: the name Windows shows for the certificate, if any.
    public static func export(
        _ certified: CertifiedKey, extraChain: [X509Certificate] = [], password: String, friendlyName: String? = nil
    ) throws -> [UInt8] {
        guard !password.isEmpty else {
            throw TLSError(.configuration, "a PKCS#12 file needs a password (Windows refuses an empty one for an exported key)")
        }
        OpenSSLErrorQueue.clear()
        guard let stack = COpenSSL_sk_X509_new_null() else {
            throw TLSError(.internalError, "cannot allocate a certificate stack")
        }
        // The stack holds references of its own: pop_free releases them.
        defer { COpenSSL_sk_X509_pop_free(stack) }
        var seen = Set([certified.leaf.derBytes])
        for certificate in certified.chain.dropFirst() + extraChain where seen.insert(certificate.derBytes).inserted {
            X509_up_ref(certificate.x509)
            guard COpenSSL_sk_X509_push(stack, certificate.x509) > 0 else {
                X509_free(certificate.x509)
                throw TLSError(.internalError, "cannot add a chain certificate to the PKCS#12 stack")
            }
        }
        // mac_iter -1: no MAC yet; the SHA-256 MAC is set explicitly below.
        guard
            let p12 = PKCS12_create(
                password, friendlyName, certified.key.pkey, certified.leaf.x509, stack,
                NID_aes_256_cbc, NID_aes_256_cbc, iterations, -1, 0)
        else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("PKCS12_create failed"))
        }
        defer { PKCS12_free(p12) }
        guard PKCS12_set_mac(p12, password, -1, nil, 0, iterations, EVP_sha256()) == 1 else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot set the PKCS#12 MAC"))
        }
        let length = i2d_PKCS12(p12, nil)
        guard length > 0 else { throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot encode the PKCS#12 file")) }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_PKCS12(p12, &pointer)
        }
        return bytes
    }

    /// Reads a PKCS#12 file back: the leaf, its key and the other certificates. The password is
    /// checked against the MAC first, so a wrong one gives a clear error.
    public static func parse(_ der: [UInt8], password: String, source: String) throws
        -> (certificate: X509Certificate, key: PrivateKey, chain: [X509Certificate])
    {
        OpenSSLErrorQueue.clear()
        let decoded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PKCS12(nil, &pointer, buffer.count)
        }
        guard let p12 = decoded else { throw TLSError(.invalidPEM, OpenSSLErrorQueue.describe("\(source): not a PKCS#12 file")) }
        defer { PKCS12_free(p12) }
        guard PKCS12_verify_mac(p12, password, -1) == 1 else {
            throw TLSError(.configuration, "\(source): wrong password (the PKCS#12 MAC does not verify)")
        }
        var pkey: OpaquePointer?
        var x509: OpaquePointer?
        var others: OpaquePointer?
        guard PKCS12_parse(p12, password, &pkey, &x509, &others) == 1, let pkey, let x509 else {
            if let pkey { EVP_PKEY_free(pkey) }
            if let x509 { X509_free(x509) }
            throw TLSError(.invalidPEM, OpenSSLErrorQueue.describe("\(source): the PKCS#12 file holds no certificate and key"))
        }
        var chain: [X509Certificate] = []
        if let others {
            for index in 0..<COpenSSL_sk_X509_num(others) {
                if let certificate = COpenSSL_sk_X509_value(others, index) { chain.append(X509Certificate(retaining: certificate)) }
            }
            COpenSSL_sk_X509_pop_free(others)
        }
        return (X509Certificate(takingOwnership: x509), PrivateKey(takingOwnership: pkey), chain)
    }
}
