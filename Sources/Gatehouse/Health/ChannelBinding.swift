import GatehouseTLS

/// The certificate a backend server presented on its last successful TLS handshake (a health
/// probe's), reduced to what Extended Protection compares. Read once per handshake, never per
/// request: the data path only sees the resulting exclusions in `PoolHealthView`.
public struct PresentedCertificate: Sendable, Equatable {
    /// The RFC 5929 `tls-server-end-point` hash: what an NTLM client binds its logon to.
    public var bindingHash: [UInt8]
    /// The SHA-256 fingerprint of the certificate (uppercase hex), for logs and `/state`.
    public var thumbprint: String

    public init(bindingHash: [UInt8], thumbprint: String) {
        self.bindingHash = bindingHash
        self.thumbprint = thumbprint
    }

    public init(_ certificate: X509Certificate) {
        self.init(bindingHash: certificate.tlsServerEndPointHash, thumbprint: certificate.sha256Fingerprint)
    }
}

/// One certificate a listener serves for one host of a virtual service whose
/// `extended_protection` is not `off` (RSA and ECDSA clients may get different ones), with the
/// pools behind the service's NTLM/Negotiate routes: each of their servers must present a
/// certificate with the same channel binding.
public struct ChannelBindingFront: Sendable, Equatable {
    /// The service's index in the configuration (`RoutePolicy.bindingService`).
    public var service: Int
    public var serviceName: String
    public var setting: ExtendedProtectionSetting
    public var host: String
    /// "RSA" or "ECDSA".
    public var keyType: String
    /// The front certificate's `tls-server-end-point` hash and SHA-256 fingerprint.
    public var certificate: PresentedCertificate
    /// Names of the pools behind the service's routes that carry NTLM/Negotiate.
    public var pools: [String]
}

/// Whether a backend's presented certificate binds like a front certificate.
public enum ChannelBindingVerdict: String, Sendable, Equatable {
    case match
    case mismatch
    /// No successful handshake with the server yet.
    case unknown

    /// The verdict for a front certificate's hash and the hash the server presented (nil: not yet).
    public static func of(front: [UInt8], presented: [UInt8]?) -> ChannelBindingVerdict {
        guard let presented else { return .unknown }
        return presented == front && !front.isEmpty ? .match : .mismatch
    }

    /// Whether a server with this verdict leaves the rotation of a route: only a known mismatch,
    /// only under `bridged`, and only on routes that carry NTLM/Negotiate (OWA and ECP use forms
    /// logon, which no channel binding affects). `warn` reports and never excludes.
    public func excludes(setting: ExtendedProtectionSetting, routeUsesWindowsAuthentication: Bool) -> Bool {
        self == .mismatch && setting == .bridged && routeUsesWindowsAuthentication
    }
}
