import Foundation
import GatehouseTLS

/// One `cert list` row; its JSON keys are Get-ExchangeCertificate's property names.
struct CertListRow: Encodable {
    var file: String
    var thumbprint: String
    var subject: String
    var certificateDomains: [String]
    var issuer: String
    var notBefore: String
    var notAfter: String
    var hasPrivateKey: Bool
    var isSelfSigned: Bool
    var publicKeySize: Int
    var publicKeyType: String
    var status: String
    /// Listeners and pools that use the certificate (with `--config`).
    var services: [String]
    /// The OCSP staple configured for it: none, good until <nextUpdate>, rejected: <reason>
    /// ("-" for a certificate that is not the leaf of its file).
    var staple: String

    enum CodingKeys: String, CodingKey {
        case file = "File"
        case thumbprint = "Thumbprint"
        case subject = "Subject"
        case certificateDomains = "CertificateDomains"
        case issuer = "Issuer"
        case notBefore = "NotBefore"
        case notAfter = "NotAfter"
        case hasPrivateKey = "HasPrivateKey"
        case isSelfSigned = "IsSelfSigned"
        case publicKeySize = "PublicKeySize"
        case publicKeyType = "PublicKeyType"
        case status = "Status"
        case services = "Services"
        case staple = "OcspStaple"
    }

    init(_ entry: CertInventory.Entry, services: [String], staple: String) {
        let certificate = entry.certificate
        let formatter = ISO8601DateFormatter()
        file = entry.file
        thumbprint = certificate.sha1Thumbprint
        subject = certificate.subjectLine
        certificateDomains = certificate.dnsNames + certificate.ipAddresses
        issuer = certificate.issuerLine
        notBefore = formatter.string(from: certificate.notBefore)
        notAfter = formatter.string(from: certificate.notAfter)
        hasPrivateKey = entry.hasPrivateKey
        isSelfSigned = certificate.isSelfSigned
        publicKeySize = certificate.publicKeySize
        publicKeyType = certificate.publicKeyDescription
        status = certificate.status().rawValue
        self.services = services
        self.staple = staple
    }
}

/// Renders `cert list` rows as an aligned text table or as JSON.
enum CertListRenderer {
    /// An aligned table with a header line; empty string when there are no rows.
    static func table(_ rows: [CertListRow]) -> String {
        guard !rows.isEmpty else { return "" }
        let header = [
            "Thumbprint", "Services", "Subject", "CertificateDomains", "Issuer", "NotBefore", "NotAfter",
            "HasPrivateKey", "IsSelfSigned", "PublicKeySize", "Status", "Staple", "File"
        ]
        let cells: [[String]] = rows.map { row in
            [
                row.thumbprint, row.services.isEmpty ? "-" : row.services.joined(separator: "; "), row.subject,
                row.certificateDomains.joined(separator: ","), row.issuer,
                row.notBefore, row.notAfter, row.hasPrivateKey ? "True" : "False", row.isSelfSigned ? "True" : "False",
                row.publicKeyType, row.status, row.staple, row.file
            ]
        }
        var widths = header.map(\.count)
        for line in cells {
            for (index, cell) in line.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func render(_ line: [String]) -> String {
            line.enumerated().map { index, cell in
                index == line.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }
        return render(header) + cells.map(render).joined()
    }

    /// A JSON array of objects (keys sorted, pretty-printed) for scripts.
    static func json(_ rows: [CertListRow]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(rows), as: UTF8.self)
    }
}
