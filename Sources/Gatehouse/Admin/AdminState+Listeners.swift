import Foundation
import GatehouseTLS

/// The `listeners` part of the state JSON: each listener's name, address and kind, and for TLS
/// listeners the certificates it serves with their names, key, expiry and days left (what the
/// status page shows, and what a monitoring script needs to warn before a certificate expires).
extension AdminState {
    static func listeners(_ listeners: [ListenerSpec], now: Date) -> String {
        let items = listeners.map { listener -> String in
            let address = listener.host.contains(":") ? "[\(listener.host)]:\(listener.port)" : "\(listener.host):\(listener.port)"
            var fields = "\"name\":\(quote(listener.name)),\"address\":\(quote(address))"
            switch listener.kind {
            case .redirect:
                fields += ",\"kind\":\"redirect\""
            case .passthrough:
                fields += ",\"kind\":\"passthrough\""
            case .tls(let store, let http2):
                fields += ",\"kind\":\"tls\",\"http2\":\(http2 != nil),\"strict_sni\":\(store.strictSNI)"
                // "optional", "required", or null when the listener asks for no client certificate.
                fields += ",\"client_certificates\":" + (store.clientCertificates.map { quote($0.mode.rawValue) } ?? "null")
                let certificates = store.certificates.map {
                    certificate(
                        $0, isDefault: $0.leaf.sha256Fingerprint == store.defaultCertificate.leaf.sha256Fingerprint, now: now)
                }
                fields += ",\"certificates\":[\(certificates.joined(separator: ","))]"
            }
            return "{\(fields)}"
        }
        return "[\(items.joined(separator: ","))]"
    }

    /// One served certificate: subject, names (SAN DNS names and addresses, or the CN), key, the
    /// expiry as an ISO 8601 UTC time, whole days left (negative once expired), and whether it is
    /// the listener's default.
    private static func certificate(_ key: CertifiedKey, isDefault: Bool, now: Date) -> String {
        let leaf = key.leaf
        var names = leaf.dnsNames + leaf.ipAddresses
        if names.isEmpty, let commonName = leaf.commonName { names = [commonName] }
        let seconds = leaf.secondsUntilExpiry(from: now)
        let days = Int((seconds / 86_400).rounded(.down))
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "{\"subject\":\(quote(leaf.subjectLine)),\"names\":[\(names.map(quote).joined(separator: ","))],"
            + "\"key\":\(quote(leaf.publicKeyDescription)),\"not_after\":\(quote(formatter.string(from: leaf.notAfter))),"
            + "\"days_left\":\(days),\"status\":\(quote(leaf.status(at: now).rawValue)),\"default\":\(isDefault)}"
    }
}
