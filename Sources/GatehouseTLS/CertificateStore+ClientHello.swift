import COpenSSL

/// What the server learns from a ClientHello before choosing a certificate.
struct ClientHelloFacts {
    /// The SNI host name, if present and an LDH ASCII name (anything else counts as unknown).
    var serverName: String?
    /// True when the SNI extension was present but carried an invalid name.
    var invalidServerName = false
    /// The client can verify an ECDSA signature in the version that will be negotiated.
    var offersECDSA = false

    /// Reads the raw extensions (pitfall 1: `SSL_get_servername` is not valid yet).
    init(ssl: OpaquePointer, allowsTLS13: Bool) {
        if let sni = Self.extensionBytes(ssl, TLSEXT_TYPE_server_name) {
            if let name = Self.parseServerName(sni) { serverName = name } else { invalidServerName = true }
        }
        let sigalgsECDSA = Self.extensionBytes(ssl, TLSEXT_TYPE_signature_algorithms).map(Self.hasECDSASigalg)
        let offersTLS13 = allowsTLS13 && (Self.extensionBytes(ssl, TLSEXT_TYPE_supported_versions).map(Self.hasTLS13) ?? false)
        if offersTLS13 {
            offersECDSA = sigalgsECDSA ?? false
        } else {
            // TLS 1.2 also needs an ECDHE-ECDSA cipher; without the sigalgs extension the RFC 5246
            // default (SHA-1 with the cipher's algorithm) applies, so the ciphers decide alone.
            offersECDSA = (sigalgsECDSA ?? true) && Self.offersECDSACipher(ssl)
        }
    }

    /// The extension body, or nil when absent. The pointer is valid only during the callback, so
    /// the bytes are copied.
    private static func extensionBytes(_ ssl: OpaquePointer, _ type: Int32) -> [UInt8]? {
        var data: UnsafePointer<UInt8>? = nil
        var length = 0
        // Returns 1 when the extension is present.
        guard SSL_client_hello_get0_ext(ssl, UInt32(type), &data, &length) == 1, let data else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    /// server_name: list length (2), then entries of type (1) + length (2) + name; type 0 is host_name.
    /// Only LDH ASCII names are accepted (a fuzzer once turned invalid UTF-8 into U+FFFD).
    static func parseServerName(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2 else { return nil }
        let listLength = Int(bytes[0]) << 8 | Int(bytes[1])
        guard listLength + 2 == bytes.count else { return nil }
        var index = 2
        while index + 3 <= bytes.count {
            let type = bytes[index]
            let length = Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            let start = index + 3
            guard start + length <= bytes.count else { return nil }
            if type == 0 {
                let name = bytes[start..<start + length]
                let isLDH = name.allSatisfy { byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                        || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                }
                guard isLDH, !name.isEmpty else { return nil }
                return String(decoding: name, as: UTF8.self)
            }
            index = start + length
        }
        return nil
    }

    /// signature_algorithms: length (2) then 2-byte schemes; ECDSA schemes are 0x0403/0x0503/0x0603
    /// (and legacy 0x0203).
    static func hasECDSASigalg(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2 else { return false }
        var index = 2
        while index + 1 < bytes.count {
            if bytes[index + 1] == 0x03 && [0x02, 0x04, 0x05, 0x06].contains(bytes[index]) { return true }
            index += 2
        }
        return false
    }

    /// supported_versions (ClientHello form): length (1) then 2-byte versions.
    static func hasTLS13(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first else { return false }
        var index = 1
        while index + 1 < bytes.count && index <= Int(first) {
            if bytes[index] == 0x03 && bytes[index + 1] == 0x04 { return true }
            index += 2
        }
        return false
    }

    /// Whether any offered cipher authenticates with ECDSA.
    private static func offersECDSACipher(_ ssl: OpaquePointer) -> Bool {
        var ciphers: UnsafePointer<UInt8>? = nil
        let length = SSL_client_hello_get0_ciphers(ssl, &ciphers)
        guard let ciphers, length >= 2 else { return false }
        var index = 0
        while index + 1 < length {
            // SSL_CIPHER_find returns nil for suites this library does not implement.
            if let cipher = SSL_CIPHER_find(ssl, ciphers + index), SSL_CIPHER_get_auth_nid(cipher) == NID_auth_ecdsa {
                return true
            }
            index += 2
        }
        return false
    }
}

extension CertificateStore {
    /// Chooses the certificate for one ClientHello and switches the connection to its context.
    /// Returns false (with `alert` set) when the handshake must fail.
    func handleClientHello(_ connection: TLSConnection, alert: inout Int32) -> Bool {
        let facts = ClientHelloFacts(ssl: connection.ssl, allowsTLS13: policy.maximumVersion == .tls1_3)
        connection.receivedServerName = facts.serverName
        let requested: String? = facts.invalidServerName ? "" : facts.serverName
        guard let index = selectIndex(serverName: requested, clientOffersECDSA: facts.offersECDSA) else {
            alert = SSL_AD_UNRECOGNIZED_NAME
            connection.failureReason = "no certificate covers the requested name \"\(facts.serverName ?? "(invalid)")\" (strict SNI)"
            return false
        }
        connection.selectedCertificate = certificates[index]
        // SSL_set_SSL_CTX returns the context now in use; nil would mean the switch failed.
        if SSL_get_SSL_CTX(connection.ssl) != contexts[index].ctx {
            guard SSL_set_SSL_CTX(connection.ssl, contexts[index].ctx) != nil else {
                alert = SSL_AD_INTERNAL_ERROR
                return false
            }
            applyClientCertificatePolicy(to: connection.ssl)
        }
        return true
    }
}

/// The C client-hello callback, installed on every server context. Recovers the `TLSConnection`
/// from the SSL's app data (unretained: the connection owns the SSL, so it outlives this call).
let clientHelloCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = {
    ssl, alert, _ in
    guard let ssl, let raw = COpenSSL_SSL_get_app_data(ssl) else { return SSL_CLIENT_HELLO_ERROR }
    let connection = Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
    guard let store = connection.store else { return SSL_CLIENT_HELLO_ERROR }
    var code = SSL_AD_INTERNAL_ERROR
    if store.handleClientHello(connection, alert: &code) { return SSL_CLIENT_HELLO_SUCCESS }
    alert?.pointee = code
    return SSL_CLIENT_HELLO_ERROR
}
