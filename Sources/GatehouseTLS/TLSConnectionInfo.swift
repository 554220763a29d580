/// What one finished handshake negotiated (`OpenSSLHandler.connectionInfo`).
public struct TLSConnectionInfo: Sendable {
    /// ALPN result ("h2", "http/1.1"), nil when the client offered no (overlapping) ALPN.
    public var negotiatedProtocol: String?
    /// "TLSv1.2" or "TLSv1.3".
    public var protocolVersion: String
    /// OpenSSL's cipher name, e.g. "TLS_AES_256_GCM_SHA384".
    public var cipher: String
    /// True when the handshake resumed an earlier session.
    public var sessionReused: Bool
    /// Server role: the certificate this connection presented (the proxy answers 421 when it does
    /// not cover the request's Host). Nil in the client role.
    public var servedCertificate: X509Certificate?
    /// Server role: the names `servedCertificate` covers, read once when it was loaded.
    public var servedNames: CertificateNames?
    /// Server role: the SNI name received (nil without SNI). Client role: the backend name.
    public var serverName: String?
    /// The peer's certificate, if it presented one (client role: the backend's leaf).
    public var peerCertificate: X509Certificate?
    /// Server role, on a listener with client certificates: the client's certificate when it
    /// presented one and OpenSSL verified it; nil otherwise (never an unverified certificate).
    public var clientCertificate: VerifiedClientCertificate? = nil
}
