/// What a backend connection trusts: explicit certificates (typically each mailbox server's
/// self-signed certificate), a CA bundle, optional SHA-256 pins, and the system store only when asked.
public struct BackendTrust: Sendable {
    /// Certificates trusted as anchors as they are (a self-signed leaf works).
    public var trustedCertificates: [X509Certificate]
    /// A PEM file of CA certificates, if any.
    public var caBundlePath: String?
    /// SHA-256 fingerprints (any case, colons allowed); when non-empty the backend's leaf must match one.
    public var pinnedSHA256: [String]
    /// Also trust the operating system's CA store (off by default: backends use internal PKI).
    public var useSystemStore: Bool

    /// Trust exactly what is given; nothing else (not even the system store unless asked).
    public init(
        trustedCertificates: [X509Certificate] = [], caBundlePath: String? = nil,
        pinnedSHA256: [String] = [], useSystemStore: Bool = false
    ) {
        self.trustedCertificates = trustedCertificates
        self.caBundlePath = caBundlePath
        self.pinnedSHA256 = pinnedSHA256
        self.useSystemStore = useSystemStore
    }

    /// The pins normalised to uppercase hex; throws naming a malformed pin.
    func normalizedPins() throws -> Set<String> {
        var pins = Set<String>()
        for pin in pinnedSHA256 {
            guard let hex = HexText.normalizeFingerprint(pin), hex.count == 64 else {
                throw TLSError(.configuration, "backend trust: pin \"\(pin)\" is not a SHA-256 fingerprint (64 hex digits)")
            }
            pins.insert(hex)
        }
        return pins
    }
}
