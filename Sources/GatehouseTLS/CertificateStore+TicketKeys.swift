import COpenSSL
import Foundation

/// Session tickets under the keys of a `TicketKeyRing`: the listener's `tls.ticket_keys` (so
/// several Gatehouse instances that read the same file resume each other's sessions), or else the
/// process's own rotating keys (`AutomaticTicketKeys`).
///
/// OpenSSL calls the callback of the session context (the store's initial context) to seal and
/// open tickets, for TLS 1.2 and TLS 1.3 alike; it is installed on every context of the store so
/// that no context can ever fall back to keys of its own.
extension CertificateStore {
    /// Makes `context` seal and open tickets with the store's keys (through the callback).
    static func installTicketKeyCallback(on context: TLSContext) throws {
        guard SSL_CTX_set_tlsext_ticket_key_evp_cb(context.ctx, ticketKeyCallback) == 1 else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot install the session ticket key callback"))
        }
    }

    /// One call of OpenSSL's ticket key callback. Encrypting: writes the current key's name and a
    /// fresh IV, keys the cipher and the MAC, returns 1 (0: no ticket). Decrypting: 0 for an
    /// unknown name (full handshake), 1 for the current key, 2 for an older key (OpenSSL then
    /// issues a new ticket under the current key), -1 on an OpenSSL failure.
    ///
    /// `tls13`: the connection negotiated TLS 1.3, where OpenSSL sends a ticket after a resumption
    /// only when asked to renew (2): a TLS 1.3 client uses each ticket once, so without a new one
    /// every second connection would be a full handshake.
    func sealOrOpenTicket(
        name: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>,
        cipher: OpaquePointer, mac: OpaquePointer, encrypt: Bool, tls13: Bool = false
    ) -> Int32 {
        guard let ring = try? ticketKeys ?? AutomaticTicketKeys.shared.ring(now: Date().timeIntervalSince1970) else {
            return encrypt ? 0 : -1
        }
        // No cipher (a provider without AES-256-CBC): no ticket is issued and none is opened, so
        // clients fall back to full handshakes instead of failing them.
        guard let aes = ticketCipher else { return 0 }
        let ivLength = Int(EVP_CIPHER_get_iv_length(aes))
        if encrypt {
            let key = ring.current
            guard RAND_bytes(iv, Int32(ivLength)) == 1 else { return -1 }
            key.name.withUnsafeBufferPointer { name.update(from: $0.baseAddress!, count: 16) }
            guard EVP_EncryptInit_ex(cipher, aes, nil, key.aesKey, iv) == 1,
                COpenSSL_ticket_hmac_init(mac, key.hmacKey, key.hmacKey.count) == 1
            else { return -1 }
            return 1
        }
        let presented = Array(UnsafeBufferPointer(start: name, count: 16))
        let key: TicketKey
        let result: Int32
        switch ring.decision(forName: presented) {
        case .unknown: return 0
        case .current(let found): (key, result) = (found, tls13 ? 2 : 1)
        case .renew(let found): (key, result) = (found, 2)
        }
        guard COpenSSL_ticket_hmac_init(mac, key.hmacKey, key.hmacKey.count) == 1,
            EVP_DecryptInit_ex(cipher, aes, nil, key.aesKey, iv) == 1
        else { return -1 }
        return result
    }
}

/// AES-256-CBC, fetched from the default provider once for the process. `EVP_aes_256_cbc()` is a
/// legacy method that OpenSSL 3 resolves by name (a provider fetch) in every EVP_*Init_ex, i.e. for
/// each ticket sealed or opened; a fetched cipher is immutable and reference-counted atomically, so
/// every connection on every loop can use this one. Immutable and never freed, hence unsafe-shared.
nonisolated(unsafe) let ticketCipher: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-256-CBC", nil)

/// The C ticket key callback. Recovers the connection (and through it the store) from the SSL's
/// app data, as the client-hello callback does.
let ticketKeyCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, Int32
    ) -> Int32 = { ssl, name, iv, cipher, mac, encrypt in
        guard let ssl, let name, let iv, let cipher, let mac, let raw = COpenSSL_SSL_get_app_data(ssl) else { return -1 }
        let connection = Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
        guard let store = connection.store else { return -1 }
        return store.sealOrOpenTicket(
            name: name, iv: iv, cipher: cipher, mac: mac, encrypt: encrypt == 1, tls13: SSL_version(ssl) == 0x0304)
    }
