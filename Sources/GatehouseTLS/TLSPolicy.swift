import COpenSSL
import NIOCore

/// A TLS protocol version a policy can name.
public enum TLSVersion: String, Sendable, Codable, CaseIterable, Comparable {
    case tls1_2 = "TLSv1.2"
    case tls1_3 = "TLSv1.3"

    /// OpenSSL's numeric version constant.
    var openSSLValue: Int32 {
        switch self {
        case .tls1_2: return TLS1_2_VERSION
        case .tls1_3: return TLS1_3_VERSION
        }
    }

    /// Orders versions by protocol number.
    public static func < (lhs: TLSVersion, rhs: TLSVersion) -> Bool { lhs.openSSLValue < rhs.openSSLValue }
}

/// The TLS settings of one listener (server role) or one backend profile (client role).
///
/// The default, `exchangeDefault`, follows the Exchange 2019 posture: TLS 1.2 minimum with 1.3
/// allowed, ECDHE only, AES-GCM and ChaCha20-Poly1305 only, X25519 and P-256, the server's cipher
/// order, no renegotiation, no compression, tickets plus a server-side session cache.
/// Call `validate()` (contexts do) to turn a bad cipher or group name into an error naming it.
public struct TLSPolicy: Sendable, Equatable {
    /// Lowest version accepted.
    public var minimumVersion: TLSVersion
    /// Highest version offered/accepted.
    public var maximumVersion: TLSVersion
    /// OpenSSL cipher list for TLS 1.2 (colon-separated).
    public var cipherList: String
    /// TLS 1.3 cipher suites (colon-separated standard names).
    public var cipherSuites: String
    /// Key-exchange groups, most preferred first (OpenSSL names: "X25519", "P-256", ...).
    public var groups: [String]
    /// Use the server's cipher order rather than the client's (server role).
    public var serverCipherPreference: Bool
    /// Issue (server) / accept (client) session tickets; keys are generated at start.
    public var sessionTickets: Bool
    /// Size of the server-side session cache (0 disables the cache).
    public var sessionCacheSize: Int
    /// How long a session may be resumed, in seconds.
    public var sessionLifetimeSeconds: Int
    /// A handshake that takes longer fails with `TLSError.Kind.handshakeTimeout`.
    public var handshakeTimeout: TimeAmount

    /// Every parameter defaults to the Exchange 2019 posture.
    public init(
        minimumVersion: TLSVersion = .tls1_2, maximumVersion: TLSVersion = .tls1_3,
        cipherList: String = TLSPolicy.exchangeCipherList,
        cipherSuites: String = TLSPolicy.exchangeCipherSuites,
        groups: [String] = ["X25519", "P-256"], serverCipherPreference: Bool = true,
        sessionTickets: Bool = true, sessionCacheSize: Int = 20_480,
        sessionLifetimeSeconds: Int = 7_200, handshakeTimeout: TimeAmount = .seconds(10)
    ) {
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.cipherList = cipherList
        self.cipherSuites = cipherSuites
        self.groups = groups
        self.serverCipherPreference = serverCipherPreference
        self.sessionTickets = sessionTickets
        self.sessionCacheSize = sessionCacheSize
        self.sessionLifetimeSeconds = sessionLifetimeSeconds
        self.handshakeTimeout = handshakeTimeout
    }

    /// ECDHE with AES-GCM or ChaCha20-Poly1305, ECDSA before RSA, 256-bit first (Exchange 2019 order).
    public static let exchangeCipherList =
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        + "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        + "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// The TLS 1.3 AEAD suites (the CCM suites are left out).
    public static let exchangeCipherSuites = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"

    /// The Exchange 2019 posture described on the type.
    public static let exchangeDefault = TLSPolicy()
}

extension TLSPolicy {
    /// Checks every value against OpenSSL, one at a time, so the error names the bad one.
    /// (OpenSSL silently skips unknown TLS 1.3 suites and unknown entries inside a cipher list.)
    public func validate() throws {
        guard minimumVersion <= maximumVersion else {
            throw TLSError(
                .configuration, "TLS policy: minimumVersion \(minimumVersion.rawValue) is above maximumVersion \(maximumVersion.rawValue)")
        }
        guard sessionCacheSize >= 0 else {
            throw TLSError(.configuration, "TLS policy: sessionCacheSize must be 0 or more, not \(sessionCacheSize)")
        }
        guard handshakeTimeout.nanoseconds > 0 else {
            throw TLSError(.configuration, "TLS policy: handshakeTimeout must be positive")
        }
        guard let scratch = SSL_CTX_new(TLS_method()) else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot create an SSL_CTX"))
        }
        defer { SSL_CTX_free(scratch) }
        OpenSSLErrorQueue.clear()
        for entry in cipherList.split(separator: ":") where !entry.isEmpty {
            // Operators (!x, -x, +x) and directives (@STRENGTH) cannot be checked on their own.
            if let first = entry.first, "!-+@".contains(first) { continue }
            // SSL_CTX_set_cipher_list returns 0 when the string selects no cipher at all.
            guard SSL_CTX_set_cipher_list(scratch, String(entry)) == 1 else {
                OpenSSLErrorQueue.clear()
                throw TLSError(.configuration, "TLS policy: unknown TLS 1.2 cipher \"\(entry)\" in cipherList (see `openssl ciphers -v`)")
            }
        }
        if minimumVersion == .tls1_2, SSL_CTX_set_cipher_list(scratch, cipherList) != 1 {
            OpenSSLErrorQueue.clear()
            throw TLSError(.configuration, "TLS policy: cipherList \"\(cipherList)\" selects no cipher")
        }
        for suite in cipherSuites.split(separator: ":") where !suite.isEmpty {
            guard Self.isKnownTLS13Suite(String(suite), scratch: scratch) else {
                throw TLSError(
                    .configuration, "TLS policy: unknown TLS 1.3 cipher suite \"\(suite)\" in cipherSuites (e.g. TLS_AES_128_GCM_SHA256)")
            }
        }
        if maximumVersion == .tls1_3, cipherSuites.split(separator: ":").isEmpty {
            throw TLSError(.configuration, "TLS policy: cipherSuites is empty but TLS 1.3 is allowed")
        }
        guard !groups.isEmpty else { throw TLSError(.configuration, "TLS policy: groups is empty") }
        for group in groups {
            // set1_groups_list returns 0 for a name OpenSSL does not know.
            guard !group.contains(":"), COpenSSL_SSL_CTX_set1_groups_list(scratch, group) == 1 else {
                OpenSSLErrorQueue.clear()
                throw TLSError(.configuration, "TLS policy: unknown group \"\(group)\" in groups (e.g. X25519, P-256, P-384)")
            }
        }
    }

    /// Sets a single TLS 1.3 suite on `scratch` and checks that OpenSSL now lists it.
    private static func isKnownTLS13Suite(_ name: String, scratch: OpaquePointer) -> Bool {
        guard SSL_CTX_set_ciphersuites(scratch, name) == 1, let ciphers = SSL_CTX_get_ciphers(scratch) else {
            OpenSSLErrorQueue.clear()
            return false
        }
        for index in 0..<COpenSSL_sk_SSL_CIPHER_num(ciphers) {
            if let cipher = COpenSSL_sk_SSL_CIPHER_value(ciphers, index),
                let standard = SSL_CIPHER_standard_name(cipher), String(cString: standard) == name
            {
                return true
            }
        }
        return false
    }
}
