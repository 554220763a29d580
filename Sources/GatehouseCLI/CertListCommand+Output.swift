import Foundation
import GatehouseTLS

/// One `cert list` row, named as Get-ExchangeCertificate names its properties.
struct CertListRow: Encodable {
    var File: String
    var Thumbprint: String
    var Subject: String
    var CertificateDomains: [String]
    var Issuer: String
    var NotBefore: String
    var NotAfter: String
    var HasPrivateKey: Bool
    var IsSelfSigned: Bool
    var PublicKeySize: Int
    var PublicKeyType: String
    var Status: String
    /// Listeners and pools that use the certificate; filled once `--config` is wired.
    var Services: [String]

    init(_ entry: CertInventory.Entry) {
        let certificate = entry.certificate
        let formatter = ISO8601DateFormatter()
        File = entry.file
        Thumbprint = certificate.sha1Thumbprint
        Subject = certificate.subjectLine
        CertificateDomains = certificate.dnsNames + certificate.ipAddresses
        Issuer = certificate.issuerLine
        NotBefore = formatter.string(from: certificate.notBefore)
        NotAfter = formatter.string(from: certificate.notAfter)
        HasPrivateKey = entry.hasPrivateKey
        IsSelfSigned = certificate.isSelfSigned
        PublicKeySize = certificate.publicKeySize
        PublicKeyType = certificate.publicKeyDescription
        Status = certificate.status().rawValue
        Services = []
    }
}

/// Renders `cert list` rows as an aligned text table or as JSON.
enum CertListRenderer {
    /// An aligned table with a header line; empty string when there are no rows.
    static func table(_ rows: [CertListRow]) -> String {
        guard !rows.isEmpty else { return "" }
        let header = ["Thumbprint", "Subject", "CertificateDomains", "Issuer", "NotBefore", "NotAfter",
                      "HasPrivateKey", "IsSelfSigned", "PublicKeySize", "Status", "File"]
        let cells: [[String]] = rows.map { row in
            [row.Thumbprint, row.Subject, row.CertificateDomains.joined(separator: ","), row.Issuer,
             row.NotBefore, row.NotAfter, row.HasPrivateKey ? "True" : "False", row.IsSelfSigned ? "True" : "False",
             row.PublicKeyType, row.Status, row.File]
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
