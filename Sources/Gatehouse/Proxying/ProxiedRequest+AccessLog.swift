import NIOCore
import NIOHTTP1

// MARK: - the access log

extension ProxiedRequest {
    /// The request's metrics, and one access-log line for it. The extended fields (user, user agent,
    /// device, server address) are gathered only when the configured format shows them.
    func log(status: UInt, reason: String?) {
        let elapsed = NIODeadline.now() - started  // one clock read for the metrics and the line
        recordMetrics(status: status, elapsed: elapsed)
        guard let access = environment.accessLog else { return }
        var entry = AccessLog.Entry(
            client: handler.clientText, method: clientHead.method.rawValue, uri: clientHead.uri,
            proto: client.protocolName, status: status, bytesIn: machine.requestBodyBytes,
            bytesOut: machine.responseBodyBytes, microseconds: elapsed.nanoseconds / 1_000,
            route: policy?.name, backend: serverName, reason: reason)
        if let certificate = handler.facts.clientCertificate {
            entry.clientCertificateSHA256 = certificate.sha256Thumbprint
            entry.clientCertificateSubject = certificate.subject
        }
        if access.format.showsExtendedFields {
            let server = handler.serverEndpoint
            entry.serverIP = server.ip
            entry.serverPort = server.port
            entry.user = user(status: status)
            entry.userAgent = clientHead.headers.first(name: "user-agent")
            entry.device = ActiveSyncDevice.parse(uri: clientHead.uri)
        }
        access.record(entry, on: eventLoop)
    }

    /// Who the request is from: the user its own credentials name (Basic, or an NTLM
    /// AUTHENTICATE, which then stays with the connection), else the connection's NTLM user. A 401
    /// means the backend did not accept the credentials: no user, and the connection's is forgotten.
    private func user(status: UInt) -> String? {
        guard status != 401 else {
            handler.authenticatedUser = nil
            return nil
        }
        guard let value = clientHead.headers.first(name: "authorization") else { return handler.authenticatedUser }
        switch ClientIdentity.claim(authorization: value) {
        case .basic(let user):
            return user
        case .ntlm(let user):
            handler.authenticatedUser = user
            return user
        case nil:
            // An NTLM NEGOTIATE, a Kerberos ticket, a bearer token: nothing we can (or may) show.
            return handler.authenticatedUser
        }
    }
}
