import Foundation
import Gatehouse
import GatehouseTLS

/// What `gatehouse check` found out about certificates: which certificate each TLS listener serves
/// for each host name, which trusted certificate covers each backend's TLS name, and the problems
/// (each reported once, with where it is and how to fix it).
struct CoverageReport {
    /// How a served certificate relates to the host name it was chosen for.
    enum Match: Equatable {
        /// A SAN dNSName (or the CN of a certificate without SANs) equals the name.
        case exact
        /// A one-label wildcard covers the name (`*.contoso.com`).
        case wildcard(String)
        /// No certificate covers the name: the default is served (and does not cover it).
        case defaultOnly
        /// No certificate covers the name and `strict_sni` refuses the handshake.
        case refused
        /// The certificate that would cover the name cannot be used (its problem is reported).
        case unusable
        /// The listener has no usable certificate at all.
        case none
    }

    /// One certificate served for a host name.
    struct Served {
        /// The certificate file's name (not the whole path), for the table.
        var fileName: String
        /// "ECDSA" or "RSA".
        var keyType: String
        var notAfter: Date
        var status: CertificateStatus
    }

    /// One host name on one TLS listener.
    struct HostRow {
        var listener: String
        var host: String
        var match: Match
        /// ECDSA first (what ECDSA-capable clients get), then RSA; one entry when both get the same.
        var served: [Served]
    }

    /// One backend server's TLS name and the trusted certificates that cover it.
    struct BackendRow {
        var pool: String
        var server: String
        var tlsName: String
        /// The files of the trusted certificates covering the name; empty when none does.
        var coveredBy: [String]
        /// Why the name was not checked (a CA bundle, a trusted CA, the system store), if so.
        var notChecked: String?
    }

    var hostRows: [HostRow] = []
    var backendRows: [BackendRow] = []
    /// The Extended Protection comparison, one line per service, host and served certificate.
    var extendedProtectionLines: [String] = []
    /// Errors and warnings, in file order.
    var diagnostics: [ConfigDiagnostic] = []

    /// The errors among `diagnostics`.
    var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }
    /// The warnings among `diagnostics`.
    var warnings: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .warning } }
}

// MARK: - Text

extension CoverageReport {
    /// The summary's `coverage:` and `backend names:` sections, one item per line.
    func lines(now: Date) -> [String] {
        var lines = ["coverage (certificate served for each host name, per TLS listener):"]
        let hostWidth = hostRows.map(\.host.count).max() ?? 0
        var currentListener: String?
        for row in hostRows {
            if row.listener != currentListener {
                lines.append("  listener '\(row.listener)'")
                currentListener = row.listener
            }
            lines.append(
                "    \(Self.pad(row.host, hostWidth))  \(Self.pad(Self.describe(row.match), 8))  "
                    + Self.describe(row.served, match: row.match, now: now))
        }
        if hostRows.isEmpty { lines.append("  (no TLS listener or no host names)") }
        if !extendedProtectionLines.isEmpty {
            lines.append("")
            lines.append("extended protection (channel binding of the certificate served vs each backend's):")
            lines += extendedProtectionLines
        }
        guard !backendRows.isEmpty else { return lines }
        lines.append("")
        lines.append("backend names (trusted certificate covering each server's TLS name):")
        let nameWidth = backendRows.map { "\($0.pool)/\($0.server)".count }.max() ?? 0
        let tlsWidth = backendRows.map(\.tlsName.count).max() ?? 0
        for row in backendRows {
            let verdict: String
            if let reason = row.notChecked {
                verdict = "not checked (\(reason))"
            } else if row.coveredBy.isEmpty {
                verdict = "NOT COVERED by any trusted certificate"
            } else {
                verdict = "covered by " + row.coveredBy.joined(separator: ", ")
            }
            lines.append("  \(Self.pad("\(row.pool)/\(row.server)", nameWidth))  \(Self.pad(row.tlsName, tlsWidth))  \(verdict)")
        }
        return lines
    }

    private static func describe(_ match: Match) -> String {
        switch match {
        case .exact: return "exact"
        case .wildcard: return "wildcard"
        case .defaultOnly, .refused, .none: return "NONE"
        case .unusable: return "UNUSABLE"
        }
    }

    private static func describe(_ served: [Served], match: Match, now: Date) -> String {
        let files = served.map { "\($0.keyType) \($0.fileName)" }.joined(separator: ", ")
        switch match {
        case .exact:
            return "\(files)  \(validity(served, now: now))"
        case .wildcard(let pattern):
            return "\(files) (\(pattern))  \(validity(served, now: now))"
        case .defaultOnly:
            return "default \(files) does not cover it"
        case .refused:
            return "handshake refused (strict_sni)"
        case .unusable:
            return "its certificate cannot be used (see the error)"
        case .none:
            return "the listener has no usable certificate"
        }
    }

    /// The validity of the served certificates: the worst status, with the earliest end date.
    private static func validity(_ served: [Served], now: Date) -> String {
        let order: [CertificateStatus] = [.expired, .notYetValid, .expiresSoon, .valid]
        guard
            let worst = served.min(by: {
                (order.firstIndex(of: $0.status) ?? 0, $0.notAfter) < (order.firstIndex(of: $1.status) ?? 0, $1.notAfter)
            })
        else { return "" }
        let date = CoverageCheck.day(worst.notAfter)
        switch worst.status {
        case .valid: return "valid until \(date)"
        case .expiresSoon: return "EXPIRES \(date) (in \(CoverageCheck.daysLeft(worst.notAfter, now: now)) days)"
        case .expired: return "EXPIRED \(date)"
        case .notYetValid: return "NOT YET VALID"
        }
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
