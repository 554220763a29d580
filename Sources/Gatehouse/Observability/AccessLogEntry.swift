/// What one finished request contributes to its access-log line. The first group of fields is
/// known for every request; the extended group (server address, user, user agent, ActiveSync
/// device) is filled in only when the configured format shows it, so the text format costs no
/// more than it did before those fields existed.
struct AccessLogEntry {
    var client: String
    var method: String
    var uri: String
    var proto: String
    var status: UInt
    var bytesIn: Int64
    var bytesOut: Int64
    var microseconds: Int64
    var route: String?
    var backend: String?
    var reason: String?
    // Extended fields (JSON and W3C only).
    /// The address and port the client connected to (W3C `s-ip`, `s-port`).
    var serverIP: String? = nil
    var serverPort: Int = 0
    /// Who the client authenticated as (NTLM `DOMAIN\user` or the Basic user name): never a secret.
    var user: String? = nil
    var userAgent: String? = nil
    /// The ActiveSync device, from the request's query.
    var device: ActiveSyncDevice? = nil
    /// The connection's verified client certificate: SHA-256 thumbprint (every format) and
    /// RFC 2253 subject (JSON only). Nil without one.
    var clientCertificateSHA256: String? = nil
    var clientCertificateSubject: String? = nil
}

/// The three line formats an operator can choose (`access_log.format`).
public enum AccessLogFormat: String, Sendable, Hashable, CaseIterable {
    /// One human-readable line, in the spirit of nginx's `combined` (the default).
    case text
    /// One JSON object per line.
    case json
    /// W3C Extended Log File Format with IIS field names, for Log Parser and the tools Exchange
    /// administrators already use on IIS logs.
    case w3c

    /// Whether the format shows the extended fields (user, user agent, device, server address).
    var showsExtendedFields: Bool { self != .text }
}
