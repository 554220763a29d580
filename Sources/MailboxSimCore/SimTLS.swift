import GatehouseTLS
import NIOCore

/// TLS for the simulator: its certificate (usually self-signed, like Exchange's back-end site)
/// served through GatehouseTLS's `OpenSSLHandler`, HTTP/1.1 only.
public enum SimTLS {
    /// Loads the certificate and key and returns a factory making one server-side TLS handler per
    /// connection, plus warnings about the certificate (expired, key file readable by others) and
    /// the leaf certificate (whose channel binding Extended Protection checks against).
    public static func handlerFactory(certificatePath: String, keyPath: String) throws
        -> (factory: MailboxSimServer.TLSHandlerFactory, warnings: [String], leaf: X509Certificate)
    {
        let (certified, warnings) = try CertifiedKey.load(certificatePath: certificatePath, keyPath: keyPath, strict: false)
        let store = try CertificateStore(
            certificates: [certified], defaultCertificate: nil, policy: .exchangeDefault,
            alpn: ["http/1.1"], strictSNI: false)
        return ({ OpenSSLHandler(server: store) }, warnings, certified.leaf)
    }
}
