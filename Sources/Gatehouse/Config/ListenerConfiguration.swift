import GatehouseTLS

/// One bound address: a TLS front end, or a plain-HTTP listener that only redirects to HTTPS.
public struct ListenerConfiguration: Sendable {
    /// The listener's unique name (`https`), for logs and metrics.
    public var name: String
    /// Where to listen; port 0 asks the kernel for a free port (tests).
    public var address: SocketEndpoint
    /// What the listener does with connections.
    public var mode: ListenerMode

    /// PROXY protocol before TLS (or HTTP, on a redirect listener); nil: off.
    public var proxyProtocol: ProxyProtocolConfiguration?

    /// A listener.
    public init(name: String, address: SocketEndpoint, mode: ListenerMode, proxyProtocol: ProxyProtocolConfiguration? = nil) {
        self.name = name
        self.address = address
        self.mode = mode
        self.proxyProtocol = proxyProtocol
    }

    /// The TLS settings, when this is a TLS listener.
    public var tls: TLSListenerConfiguration? {
        if case .tls(let tls) = mode { return tls }
        return nil
    }

    /// The pass-through settings, when this is a pass-through listener.
    public var passthrough: PassthroughConfiguration? {
        if case .passthrough(let settings) = mode { return settings }
        return nil
    }

    /// The HTTPS port clients are redirected to, when this is a redirect-only listener.
    public var redirectToHTTPSPort: Int? {
        if case .redirectToHTTPS(let port) = mode { return port }
        return nil
    }
}

/// What a listener does with its connections.
public enum ListenerMode: Sendable {
    /// Terminate TLS and proxy requests.
    case tls(TLSListenerConfiguration)
    /// Plain HTTP: answer every request with a redirect to `https://<host>:<port><target>`.
    case redirectToHTTPS(port: Int)
    /// TLS pass-through: route the client's TLS stream, unopened, by its SNI.
    case passthrough(PassthroughConfiguration)
}

/// A host (IP literal or DNS name) and a port, as written `host:port` or `[v6]:port`.
public struct SocketEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The host without brackets (`127.0.0.1`, `::1`, `mbx01.contoso.lab`).
    public var host: String
    /// The TCP port.
    public var port: Int

    /// An endpoint.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether `host` is an IPv6 literal.
    public var isIPv6: Bool { host.contains(":") }

    /// `host:port`, with brackets around IPv6 hosts.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// TLS settings of a listener. File paths are absolute; certificates are loaded by GatehouseTLS.
public struct TLSListenerConfiguration: Sendable {
    /// Certificate (chain) and key files; RSA and ECDSA pairs for the same names may both be listed.
    public var certificates: [CertificateKeyPair]
    /// The certificate file served when SNI matches no certificate (or is absent).
    public var defaultCertificate: String
    /// Refuse handshakes whose SNI matches no certificate instead of serving the default.
    public var strictSNI: Bool
    /// The lowest protocol version accepted.
    public var minVersion: TLSProtocolVersion
    /// The TLS 1.2 cipher list (OpenSSL syntax).
    public var ciphers: String
    /// The TLS 1.3 cipher suites (OpenSSL syntax).
    public var cipherSuites: String
    /// Key-exchange groups in preference order.
    public var groups: [String]
    /// ALPN protocols offered, in preference order.
    public var alpn: [String]
    /// The longest a client may take to complete the handshake.
    public var handshakeTimeout: Duration
    /// Whether stateless session tickets (resumption) are issued.
    public var sessionTickets: Bool
    /// Client certificates asked for and verified (`client_certificates`); nil: never asked.
    public var clientCertificates: ClientCertificateConfiguration? = nil
    /// Session-ticket keys read from `ticket_keys` (first encrypts, all decrypt); nil: random keys
    /// made by each process at start.
    public var ticketKeys: TicketKeyRing?
    /// The absolute path `ticketKeys` was read from, for messages.
    public var ticketKeysFile: String?

    /// ECDHE only, AES-GCM and ChaCha20, as Exchange 2019's TLS guidance asks.
    public static let defaultCiphers =
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
        + "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    /// Every TLS 1.3 suite OpenSSL enables by default (all AEAD).
    public static let defaultCipherSuites = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
    /// X25519 first, then the NIST curves Windows clients offer.
    public static let defaultGroups = ["X25519", "P-256", "P-384"]
    /// HTTP/2 preferred, HTTP/1.1 for everything that needs connection-based authentication.
    public static let defaultALPN = ["h2", "http/1.1"]

    /// TLS settings; defaults are the Exchange 2019 posture.
    public init(
        certificates: [CertificateKeyPair], defaultCertificate: String? = nil, strictSNI: Bool = false,
        minVersion: TLSProtocolVersion = .tls12, ciphers: String = TLSListenerConfiguration.defaultCiphers,
        cipherSuites: String = TLSListenerConfiguration.defaultCipherSuites,
        groups: [String] = TLSListenerConfiguration.defaultGroups, alpn: [String] = TLSListenerConfiguration.defaultALPN,
        handshakeTimeout: Duration = .seconds(10), sessionTickets: Bool = true
    ) {
        self.certificates = certificates
        self.defaultCertificate = defaultCertificate ?? certificates.first?.certificate ?? ""
        self.strictSNI = strictSNI
        self.minVersion = minVersion
        self.ciphers = ciphers
        self.cipherSuites = cipherSuites
        self.groups = groups
        self.alpn = alpn
        self.handshakeTimeout = handshakeTimeout
        self.sessionTickets = sessionTickets
    }
}

/// A certificate file (leaf first, then its chain) and its private key file, both absolute paths.
public struct CertificateKeyPair: Sendable, Hashable {
    /// The PEM certificate chain file.
    public var certificate: String
    /// The PEM private key file.
    public var key: String
    /// A DER OCSP response to staple (`ocsp:`), checked when the runtime is built.
    public var ocsp: String?

    /// A pair.
    public init(certificate: String, key: String, ocsp: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.ocsp = ocsp
    }
}

/// The lowest TLS version a listener accepts.
public enum TLSProtocolVersion: String, Sendable, Hashable, CaseIterable {
    /// TLS 1.2 and 1.3.
    case tls12 = "1.2"
    /// TLS 1.3 only.
    case tls13 = "1.3"
}
