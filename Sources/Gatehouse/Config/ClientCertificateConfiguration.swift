import GatehouseTLS
import Yams

/// A TLS listener's `client_certificates:` block: ask clients for a certificate and verify it
/// against the CAs of `ca` (ActiveSync certificate-based authentication front ends).
public struct ClientCertificateConfiguration: Sendable, Hashable {
    /// `optional` (a client may present none) or `required` (the handshake fails without one).
    public var mode: ClientCertificatePolicy.Mode
    /// The absolute path of the PEM file of trusted CA certificates.
    public var caFile: String

    public init(mode: ClientCertificatePolicy.Mode, caFile: String) {
        self.mode = mode
        self.caFile = caFile
    }
}

/// `tls.client_certificates:` as written.
struct ClientCertificatesDocument: Codable {
    var mode: Located<String>?
    var ca: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case mode, ca
    }
}

extension ConfigValidator {
    /// `tls.client_certificates`: a known mode and a readable PEM file with at least one
    /// certificate (each should be a CA). Nil with the errors recorded when anything is wrong.
    func validateClientCertificates(_ document: Located<ClientCertificatesDocument>) -> ClientCertificateConfiguration? {
        let value = document.value
        var mode: ClientCertificatePolicy.Mode?
        if let written = required(value.mode, key: "mode", in: document, hint: "mode: optional, or mode: required") {
            mode = choice(written, among: ClientCertificatePolicy.Mode.allCases.map(\.rawValue))
                .flatMap(ClientCertificatePolicy.Mode.init(rawValue:))
        }
        let caHint = "a PEM file of the CA certificates that issue your clients' certificates"
        guard let caValue = required(value.ca, key: "ca", in: document, hint: caHint),
            let path = readableFile(caValue, what: "CA file")
        else { return nil }
        let authorities: [X509Certificate]
        do {
            authorities = try X509Certificate.chain(pemFile: path)
        } catch {
            collector.error(
                "CA file '\(caValue.value)' for \(caValue.place) holds no usable certificate: \(error)", at: caValue.mark,
                hint: caHint + " (-----BEGIN CERTIFICATE----- blocks)")
            return nil
        }
        for authority in authorities where !authority.isCertificateAuthority {
            collector.warning(
                "CA file '\(caValue.value)' for \(caValue.place) holds \(authority.subjectLine), which is not a CA certificate",
                at: caValue.mark,
                hint: "it is trusted as an anchor anyway, but only certificates it issued can verify; list the issuing CA")
        }
        guard let mode else { return nil }
        return ClientCertificateConfiguration(mode: mode, caFile: path)
    }

    /// `client_certificates` written directly in a listener instead of in its `tls:` block.
    func refuseMisplacedClientCertificates(_ document: Located<ListenerDocument>) {
        guard let misplaced = document.value.clientCertificates else { return }
        if document.value.tls != nil {
            collector.error(
                "\(misplaced.place) belongs in the listener's 'tls:' block", at: misplaced.mark,
                hint: "indent it under 'tls:', next to 'certificates:'")
        } else {
            collector.error(
                "\(misplaced.place) is set on a listener without TLS", at: misplaced.mark,
                hint: "client certificates are asked for in the TLS handshake: move the block into the 'tls:' "
                    + "block of a TLS listener; a 'redirect_to_https' listener has none")
        }
    }

    /// Routes that require a client certificate while no listener asks for one: every request to
    /// them would get 403.
    func warnUnreachableClientCertificateRoutes(_ services: [Located<ServiceDocument>]?, listeners: [ListenerConfiguration]) {
        guard !listeners.contains(where: { $0.tls?.clientCertificates != nil }) else { return }
        for service in services ?? [] {
            for route in service.value.routes ?? [] {
                guard let value = route.value.clientCertificate, value.value == "required" else { continue }
                collector.warning(
                    "\(value.place) is 'required', but no listener asks clients for a certificate, so every "
                        + "request to this route gets 403", at: value.mark,
                    hint: "add 'client_certificates: { mode: optional, ca: FILE }' to a listener's 'tls:' block")
            }
        }
    }
}
