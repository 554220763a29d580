import COpenSSL
import NIOCore

/// Owns one `SSL*` (freed in deinit, which also frees its BIO) and the per-connection facts the C
/// callbacks record. Used by exactly one `OpenSSLHandler` on one event loop.
///
/// Ciphertext moves through a `ByteBufferBIO`: received ByteBuffers are read by the SSL directly,
/// produced ciphertext lands in a ByteBuffer for the channel. The SSL never touches a socket
/// (no `SSL_set_fd`).
final class TLSConnection {
    let ssl: OpaquePointer
    /// Both directions of the SSL's I/O. Its `BIO*` is owned by `ssl`; this object by us.
    private let transport: ByteBufferBIO

    /// Server role: the store choosing certificates (held strongly: its contexts must outlive us).
    let store: CertificateStore?
    /// Client role: the backend context (held strongly for the same reason).
    let clientContext: TLSClientContext?
    /// Client role: the backend's TLS name (SNI unless an IP, and the name verified).
    let expectedServerName: String?

    /// Server role: SNI received (LDH names only), set by the client-hello callback.
    var receivedServerName: String?
    /// Server role: the certificate chosen for this connection.
    var selectedCertificate: CertifiedKey?
    /// Client role: `expectedServerName` classified; the verify callback checks the leaf against it.
    var expectedReference: HostNameMatching.Reference?
    /// Client role: the leaf the backend presented (recorded by the verify callback).
    var peerLeaf: X509Certificate?
    /// The first specific failure reason a callback recorded, used in error messages.
    var failureReason: String?

    /// Server connection starting from the store's initial context.
    init(server store: CertificateStore, allocator: ByteBufferAllocator) throws {
        self.store = store
        self.clientContext = nil
        self.expectedServerName = nil
        (ssl, transport) = try Self.makeSSL(store.initialContext, allocator: allocator)
        finishSetUp()
        SSL_set_accept_state(ssl)
        // Selection normally happens in the client-hello callback; this is what an SSL serves if
        // it never runs (it always does for a valid ClientHello).
        selectedCertificate = store.defaultCertificate
    }

    /// Client connection to the backend named `serverName`.
    init(client context: TLSClientContext, serverName: String, allocator: ByteBufferAllocator) throws {
        self.store = nil
        self.clientContext = context
        self.expectedServerName = serverName
        (ssl, transport) = try Self.makeSSL(context.context, allocator: allocator)
        finishSetUp()
        SSL_set_connect_state(ssl)
        try configureClient(serverName: serverName, context: context)
    }

    deinit {
        // SSL_free drops both of the BIO's references (read and write side); `transport` itself
        // is released after this, so no BIO callback can outlive it.
        SSL_free(ssl)
    }

    /// SSL_new plus one ByteBufferBIO serving as both read and write BIO.
    private static func makeSSL(_ context: TLSContext, allocator: ByteBufferAllocator) throws -> (OpaquePointer, ByteBufferBIO) {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.ctx) else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("SSL_new failed"))
        }
        let transport: ByteBufferBIO
        do { transport = try ByteBufferBIO(allocator: allocator) } catch {
            SSL_free(ssl)
            throw error
        }
        // set0_rbio and set0_wbio each consume one reference: BIO_new gave one, up_ref the other.
        BIO_up_ref(transport.bio)
        SSL_set0_rbio(ssl, transport.bio)
        SSL_set0_wbio(ssl, transport.bio)
        return (ssl, transport)
    }

    /// Makes the connection findable from C callbacks. Unretained: self owns the SSL, so whenever
    /// OpenSSL calls back with this SSL, self is alive.
    private func finishSetUp() {
        _ = COpenSSL_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
    }

    /// SNI (never for IP literals) and session resumption. The name itself is checked by the verify
    /// callback with `HostNameMatching` (the rules certificate selection uses), not by OpenSSL's
    /// own host check, so both directions of Gatehouse follow one definition.
    private func configureClient(serverName: String, context: TLSClientContext) throws {
        guard let reference = HostNameMatching.reference(serverName) else {
            throw TLSError(.invalidName, "backend TLS name \"\(serverName)\" is neither a valid host name nor an IP address")
        }
        expectedReference = reference
        if case .dns(let name) = reference {
            guard COpenSSL_SSL_set_tlsext_host_name(ssl, name) == 1 else {
                throw TLSError(.configuration, OpenSSLErrorQueue.describe("backend \(serverName): cannot set the TLS name"))
            }
        }
        if let session = context.session(for: serverName) {
            // SSL_set_session takes its own reference; failure only means a full handshake.
            _ = SSL_set_session(ssl, session.session)
        }
    }
}

/// Moving bytes between ByteBuffers and the memory BIOs, and driving the SSL.
extension TLSConnection {
    /// The outcome of one SSL call.
    enum Outcome {
        case done
        case wantRead
        case closeNotify
        case failed(TLSError)
    }

    /// Hands ciphertext from the network to the SSL (no copy until the SSL reads it).
    func feed(_ buffer: ByteBuffer) { transport.receive(buffer) }

    /// Bytes of ciphertext waiting for the network.
    var pendingCiphertext: Int { transport.outboundBytes }

    /// Received ciphertext the SSL has not consumed yet.
    var bufferedInbound: Int { transport.inbound?.readableBytes ?? 0 }

    /// Whether SSL_read could return anything now (bytes in our BIO or records inside the SSL).
    var hasReadableInput: Bool { bufferedInbound > 0 || SSL_has_pending(ssl) == 1 }

    /// Takes all ciphertext produced so far, if any.
    func takeCiphertext() -> ByteBuffer? { transport.takeOutbound() }

    /// Runs the handshake as far as the buffered input allows.
    func handshake() -> Outcome {
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        return classify(result, during: "handshake")
    }

    /// Decrypts as much plaintext as is available into `buffer`. `.wantRead` is the normal end.
    func readPlaintext(into buffer: inout ByteBuffer) -> Outcome {
        while true {
            OpenSSLErrorQueue.clear()
            var result: Int32 = 0
            // Use the room there is; grow by a record only when it runs out (plaintext rarely
            // outgrows the up-front reservation).
            let minimum = buffer.writableBytes >= 512 ? 0 : 16 * 1024
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: minimum) { raw in
                result = SSL_read(ssl, raw.baseAddress, Int32(min(raw.count, Int(Int32.max))))
                return result > 0 ? Int(result) : 0
            }
            if result > 0 { continue }
            return classify(result, during: "read")
        }
    }

    /// The most ciphertext `bytes` of plaintext become: 16 KiB per record plus at most ~40 bytes of
    /// framing and tag each.
    static func ciphertextBytes(forPlaintext bytes: Int) -> Int { bytes + (bytes / 16_384 + 1) * 40 }

    /// Room left in the ciphertext buffer being filled (0 when none is).
    var ciphertextRoom: Int { transport.outboundRoom }

    /// Makes room for the ciphertext of `bytes` of plaintext up front (one buffer for several writes).
    func reserveCiphertext(forPlaintext bytes: Int) { transport.reserveOutbound(Self.ciphertextBytes(forPlaintext: bytes)) }

    /// Encrypts all of `plaintext` (the memory BIO never pushes back, so SSL_write writes it all).
    func write(_ plaintext: UnsafeRawBufferPointer) -> Outcome {
        guard let base = plaintext.baseAddress, plaintext.count > 0 else { return .done }
        // Room for the records up front (none needed when the caller reserved for several writes).
        transport.reserveOutbound(Self.ciphertextBytes(forPlaintext: plaintext.count))
        OpenSSLErrorQueue.clear()
        let result = SSL_write(ssl, base, Int32(plaintext.count))
        if result > 0 { return .done }
        return classify(result, during: "write")
    }

    /// Queues our close_notify (to be drained and sent).
    func shutdown() {
        OpenSSLErrorQueue.clear()
        // 0 = sent, waiting for the peer's; 1 = complete; <0 = error (e.g. after a fatal alert): ignored,
        // the channel closes either way.
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    /// Maps SSL_get_error to an outcome; failures carry the most specific message available.
    private func classify(_ result: Int32, during operation: String) -> Outcome {
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantRead
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            return .failed(makeError(operation: operation))
        }
    }

    /// Builds the typed error for a failed SSL call.
    private func makeError(operation: String) -> TLSError {
        let reasons = OpenSSLErrorQueue.drain()
        if let name = expectedServerName {
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK || failureReason != nil {
                let reason = failureReason ?? String(cString: X509_verify_cert_error_string(verify))
                let subject = peerLeaf?.subjectLine ?? "(none)"
                let fingerprint = peerLeaf?.sha256Fingerprint ?? "(none)"
                return TLSError(
                    .verification,
                    "backend \(name): certificate verification failed: \(reason); presented certificate \(subject), SHA-256 \(fingerprint)",
                    serverName: name, peerSubject: peerLeaf?.subjectLine, peerSHA256: peerLeaf?.sha256Fingerprint)
            }
        }
        let isHandshake = SSL_is_init_finished(ssl) != 1
        var message = isHandshake ? "TLS handshake failed" : "TLS \(operation) failed"
        if let name = expectedServerName { message += " with backend \(name)" }
        if let reason = failureReason { message += ": \(reason)" }
        if let reasons { message += " (\(reasons))" }
        return TLSError(isHandshake ? .handshake : .protocolFailure, message, serverName: expectedServerName)
    }

    /// Facts about the finished handshake.
    var info: TLSConnectionInfo {
        var protocolPointer: UnsafePointer<UInt8>? = nil
        var protocolLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &protocolPointer, &protocolLength)
        let negotiated = protocolPointer.map {
            String(decoding: UnsafeBufferPointer(start: $0, count: Int(protocolLength)), as: UTF8.self)
        }
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        let peer: X509Certificate? = SSL_get1_peer_certificate(ssl).map { X509Certificate(takingOwnership: $0) }
        return TLSConnectionInfo(
            negotiatedProtocol: negotiated,
            protocolVersion: String(cString: SSL_get_version(ssl)),
            cipher: cipher,
            sessionReused: COpenSSL_SSL_session_reused(ssl) == 1,
            servedCertificate: store != nil ? selectedCertificate?.leaf : nil,
            servedNames: store != nil ? selectedCertificate?.names : nil,
            serverName: store != nil ? receivedServerName : expectedServerName,
            peerCertificate: peer,
            clientCertificate: verifiedClientCertificate)
    }
}
