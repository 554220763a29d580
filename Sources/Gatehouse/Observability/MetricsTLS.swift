import GatehouseTLS
import NIOConcurrencyHelpers
import NIOCore
import Prometheus

/// The metric handles of one TLS listener: client connections by protocol, handshakes by
/// (version, cipher, certificate served) and failures by reason. Updated once per connection, never
/// per request. The protocol handles are made up front; a handshake's (version, cipher,
/// certificate) and a failure's reason are found in a small cache under a lock, since their values
/// are only known from the handshake (a bounded set: the listener's ciphers and certificates, and
/// OpenSSL's reason strings).
public final class ListenerMetrics: Sendable {
    let name: String
    /// Index 0: HTTP/1.1, 1: HTTP/2.
    let open: [Gauge]
    let accepted: [Counter]
    private let registry: PrometheusCollectorRegistry
    /// The served certificates (leaf identity → labels), from the listener's certificate store.
    private let certificates: [ObjectIdentifier: CertificateLabels]
    private let handshakes = NIOLockedValueBox<[HandshakeKey: Counter]>([:])
    private let failures = NIOLockedValueBox<[String: Counter]>([:])
    private let proxyRefusals = NIOLockedValueBox<[String: Counter]>([:])

    /// The `certificate` and `sha256` labels of one certificate.
    struct CertificateLabels: Hashable, Sendable {
        var name: String
        var sha256: String

        init(_ certificate: X509Certificate) {
            name = certificate.commonName ?? certificate.dnsNames.first ?? "unnamed"
            sha256 = String(certificate.sha256Fingerprint.lowercased().filter { $0 != ":" }.prefix(16))
        }
    }

    private struct HandshakeKey: Hashable {
        var version: String
        var cipher: String
        var certificate: CertificateLabels?
    }

    init(name: String, store: CertificateStore, registry: PrometheusCollectorRegistry) {
        self.name = name
        self.registry = registry
        self.open = ["h1", "h2"].map {
            registry.makeGauge(descriptor: MetricFamilies.clientConnectionsOpen, labels: [("listener", name), ("protocol", $0)])
        }
        self.accepted = ["h1", "h2"].map {
            registry.makeCounter(descriptor: MetricFamilies.clientConnections, labels: [("listener", name), ("protocol", $0)])
        }
        var certificates: [ObjectIdentifier: CertificateLabels] = [:]
        for key in store.certificates { certificates[ObjectIdentifier(key.leaf)] = CertificateLabels(key.leaf) }
        self.certificates = certificates
    }

    /// A handshake finished: counts it and the connection, and returns the open-connections gauge
    /// the caller decrements when the connection closes.
    func handshakeCompleted(_ info: TLSConnectionInfo?, http2: Bool) -> Gauge {
        let key = HandshakeKey(
            version: info?.protocolVersion ?? "unknown", cipher: info?.cipher ?? "unknown",
            certificate: info?.servedCertificate.flatMap { certificates[ObjectIdentifier($0)] })
        let counter = handshakes.withLockedValue { cache in
            if let counter = cache[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: MetricFamilies.tlsHandshakes,
                labels: [
                    ("listener", name), ("version", key.version), ("cipher", key.cipher),
                    ("certificate", key.certificate?.name ?? ""), ("sha256", key.certificate?.sha256 ?? "")
                ])
            cache[key] = counter
            return counter
        }
        counter.increment()
        let index = http2 ? 1 : 0
        accepted[index].increment()
        open[index].increment()
        return open[index]
    }

    /// A handshake failed with `error`.
    func handshakeFailed(_ error: Error) {
        let reason = Self.failureReason(error)
        let counter = failures.withLockedValue { cache in
            if let counter = cache[reason] { return counter }
            let counter = registry.makeCounter(
                descriptor: MetricFamilies.tlsHandshakeFailures,
                labels: [("listener", name), ("reason", reason)])
            cache[reason] = counter
            return counter
        }
        counter.increment()
    }

    /// A connection closed before TLS by the PROXY protocol checks; `reason` is one of a few fixed
    /// labels (`ProxyProtocolGate.Refusal.label`).
    func proxyProtocolRefused(reason: String) {
        let counter = proxyRefusals.withLockedValue { cache in
            if let counter = cache[reason] { return counter }
            let counter = registry.makeCounter(
                descriptor: MetricFamilies.proxyProtocolRefusals, labels: [("listener", name), ("reason", reason)])
            cache[reason] = counter
            return counter
        }
        counter.increment()
    }

    /// The `reason` label of a failed handshake: `timeout`, `closed` (the client went away during
    /// the handshake, or its socket failed), OpenSSL's reason in snake case (`no_shared_cipher`, `unsupported_protocol`,
    /// `http_request`, ...), or `other`. OpenSSL's reasons are a fixed set, so the label stays bounded
    /// whatever a client sends.
    static func failureReason(_ error: Error) -> String {
        // A reset or a socket error mid-handshake: the client went away.
        if error is IOError { return "closed" }
        guard let tls = error as? TLSError else { return "other" }
        switch tls.kind {
        case .handshakeTimeout:
            return "timeout"
        case .handshake, .protocolFailure, .verification:
            if tls.message.contains("closed the connection") || tls.message.contains("close_notify") { return "closed" }
            return openSSLReason(tls.message) ?? "handshake"
        case .io, .uncleanShutdown:
            return "closed"
        default:
            return "other"
        }
    }

    /// "no shared cipher" from "... (error:0A0000C1:SSL routines::no shared cipher)", in snake case.
    static func openSSLReason(_ message: String) -> String? {
        // OpenSSL's queue comes last, in parentheses, after anything a client could have named (SNI).
        guard let open = message.lastIndex(of: "(") else { return nil }
        let queue = message[message.index(after: open)...]
        guard let marker = queue.firstRange(of: "routines::") else { return nil }
        var reason = ""
        for character in message[marker.upperBound...] {
            if character == ")" || character == ";" { break }
            guard reason.utf8.count < 64 else { break }
            if character.isLetter || character.isNumber {
                reason.append(Character(character.lowercased()))
            } else if !reason.hasSuffix("_") {
                reason.append("_")
            }
        }
        while reason.hasSuffix("_") { reason.removeLast() }
        return reason.isEmpty ? nil : reason
    }
}
