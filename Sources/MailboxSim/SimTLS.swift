import MailboxSimCore

/// Builds the TLS handler for the simulator's connections from a certificate and key file.
enum SimTLS {
    /// Loads the certificate and key and returns a factory making one server-side TLS handler per connection.
    static func handlerFactory(certificatePath: String, keyPath: String) throws -> MailboxSimServer.TLSHandlerFactory {
        throw SimError("TLS is not available in this build yet; run with --plain")
    }
}
