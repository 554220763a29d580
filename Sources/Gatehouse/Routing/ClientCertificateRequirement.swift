import NIOHTTP1

/// A route's `client_certificate: required`: the decision for one request, pure so it is tested
/// without TLS. The verdict rests only on the connection's verified certificate (never on a
/// header), and a refusal is a 403 with a body that says what to do, logged with its reason.
enum ClientCertificateRequirement {
    /// The 403 for a request on a route that requires a client certificate when the connection
    /// has no verified one; nil when the request may go on.
    static func refusal(policy: RoutePolicy, connection: ClientConnectionFacts) -> LocalResponse? {
        guard policy.requiresClientCertificate, connection.clientCertificate == nil else { return nil }
        return LocalResponse(
            status: .forbidden,
            body: "403 Forbidden: this service requires a client certificate; present one issued by a trusted CA.\n",
            reason: "route \(policy.name) requires a verified client certificate and the connection has none")
    }
}
