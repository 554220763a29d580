import COpenSSL

/// An error from the TLS / X.509 layer, with a message meant for people: what failed, on which file
/// or peer, and OpenSSL's own reason when there is one. A struct so it can grow fields later.
public struct TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The broad category, for code that must branch on the kind of failure.
    public enum Kind: String, Sendable {
        case fileUnreadable, invalidPEM, keyMismatch, unsupportedKey, encryptedKey
        case certificateExpired, certificateNotYetValid, invalidName
        case configuration, handshake, verification, io, internalError
        /// The handshake did not finish within the policy's `handshakeTimeout`.
        case handshakeTimeout
        /// The peer closed TCP without sending close_notify: a response may be truncated.
        case uncleanShutdown
        /// The peer sent a TLS alert or violated the protocol after the handshake.
        case protocolFailure
    }
    public var kind: Kind
    public var message: String
    /// For verification failures: the name the peer was checked against (the backend's TLS name).
    public var serverName: String?
    /// For verification failures: the subject of the certificate the peer presented.
    public var peerSubject: String?
    /// For verification failures: the SHA-256 fingerprint (uppercase hex) of the presented certificate.
    public var peerSHA256: String?

    public init(
        _ kind: Kind, _ message: String, serverName: String? = nil,
        peerSubject: String? = nil, peerSHA256: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.serverName = serverName
        self.peerSubject = peerSubject
        self.peerSHA256 = peerSHA256
    }

    public var description: String { message }
}

/// Reads and clears OpenSSL's per-thread error queue. Event-loop threads are shared by many
/// connections, so every caller clears the queue before an `SSL_*` call and drains it after a failure.
enum OpenSSLErrorQueue {
    /// Clears any stale errors left on this thread's queue.
    static func clear() { ERR_clear_error() }

    /// Drains the queue into one line, e.g. "error:0A000086:SSL routines::certificate verify failed".
    /// Returns nil when the queue was empty.
    static func drain() -> String? {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            parts.append(String(decoding: text, as: UTF8.self))
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// A message followed by OpenSSL's reasons, if any.
    static func describe(_ message: String) -> String {
        if let reasons = drain() { return "\(message) (\(reasons))" }
        return message
    }
}
