import Foundation
import Testing

@testable import GatehouseTLS

/// The SNI selection table, on real certificates (pure `select`, no handshake).
@Suite struct CertificateStoreSelectionTests {
    /// One PKI shared by the table's rows.
    final class Certs: Sendable {
        let mailEC, mailRSA, wildcardEC, tldWildcard, legacyCN, idn, defaultRSA, defaultEC: CertifiedKey
        init() throws {
            let pki = try TestPKI()
            mailEC = try pki.certified(
                pki.selfSigned(cn: "mail.contoso.com", dns: ["mail.contoso.com", "autodiscover.contoso.com"], key: .ecdsa))
            mailRSA = try pki.certified(
                pki.selfSigned(cn: "mail.contoso.com", dns: ["mail.contoso.com", "autodiscover.contoso.com"], key: .rsa))
            wildcardEC = try pki.certified(pki.selfSigned(cn: "*.contoso.com", dns: ["*.contoso.com"], key: .ecdsa))
            tldWildcard = try pki.certified(pki.selfSigned(cn: "*.com", dns: ["*.com"], key: .ecdsa))
            legacyCN = try pki.certified(pki.selfSigned(cn: "legacy.fabrikam.com", key: .rsa))
            idn = try pki.certified(pki.selfSigned(cn: "idn", dns: ["xn--bcher-kva.example"], key: .ecdsa))
            defaultRSA = try pki.certified(pki.selfSigned(cn: "gateway.contoso.net", dns: ["gateway.contoso.net"], key: .rsa))
            defaultEC = try pki.certified(pki.selfSigned(cn: "gateway.contoso.net", dns: ["gateway.contoso.net"], key: .ecdsa))
        }
        var all: [CertifiedKey] { [mailEC, mailRSA, wildcardEC, tldWildcard, legacyCN, idn, defaultRSA, defaultEC] }
    }

    static let certs = Result { try Certs() }

    func store(strict: Bool = false) throws -> (CertificateStore, Certs) {
        let certs = try Self.certs.get()
        return (
            try CertificateStore(
                certificates: certs.all, defaultCertificate: certs.defaultRSA,
                policy: .exchangeDefault, alpn: ["h2", "http/1.1"], strictSNI: strict), certs
        )
    }

    /// (SNI, client offers ECDSA, expected certificate by name).
    static let table: [(String?, Bool, String)] = [
        ("mail.contoso.com", true, "mailEC"),
        ("mail.contoso.com", false, "mailRSA"),
        ("autodiscover.contoso.com", true, "mailEC"),
        ("MAIL.Contoso.COM", true, "mailEC"),
        ("mail.contoso.com.", false, "mailRSA"),
        ("owa.contoso.com", true, "wildcardEC"),
        ("owa.contoso.com", false, "wildcardEC"),  // only an ECDSA certificate covers it
        ("OWA.CONTOSO.COM.", true, "wildcardEC"),
        ("www.eu.contoso.com", true, "defaultEC"),  // two labels under the wildcard: default
        ("contoso.com", false, "defaultRSA"),  // the wildcard does not cover its base
        ("example.com", false, "defaultRSA"),  // *.com is never used
        ("legacy.fabrikam.com", true, "legacyCN"),  // CN used because there are no SANs
        ("xn--bcher-kva.example", true, "idn"),
        ("XN--BCHER-KVA.example", true, "idn"),
        ("bücher.example", true, "defaultEC"),  // U-labels are not valid SNI
        ("mail.contoso.com\u{0}", true, "defaultEC"),
        (nil, false, "defaultRSA"),
        (nil, true, "defaultEC")
    ]

    @Test(arguments: 0..<table.count)
    func selectionTable(row: Int) throws {
        let (store, certs) = try store()
        let (name, ecdsa, expected) = Self.table[row]
        let names: [String: CertifiedKey] = [
            "mailEC": certs.mailEC, "mailRSA": certs.mailRSA, "wildcardEC": certs.wildcardEC, "legacyCN": certs.legacyCN,
            "idn": certs.idn, "defaultRSA": certs.defaultRSA, "defaultEC": certs.defaultEC
        ]
        let chosen = try #require(store.select(serverName: name, clientOffersECDSA: ecdsa))
        let want = try #require(names[expected])
        #expect(
            chosen.leaf === want.leaf,
            "\(name ?? "(no SNI)") ecdsa=\(ecdsa): got \(chosen.leaf.subjectLine) \(chosen.isECDSA ? "EC" : "RSA")")
    }

    @Test func strictSNIRefusesUnknownNamesOnly() throws {
        let (store, certs) = try store(strict: true)
        #expect(store.select(serverName: "unknown.example.org", clientOffersECDSA: true) == nil)
        #expect(store.select(serverName: "www.eu.contoso.com", clientOffersECDSA: true) == nil)
        #expect(store.select(serverName: "mail.contoso.com", clientOffersECDSA: true)?.leaf === certs.mailEC.leaf)
        #expect(store.select(serverName: nil, clientOffersECDSA: false)?.leaf === certs.defaultRSA.leaf)
    }

    @Test func defaultIsFirstCertificateWhenNotGiven() throws {
        let certs = try Self.certs.get()
        let store = try CertificateStore(
            certificates: [certs.legacyCN, certs.mailEC], defaultCertificate: nil,
            policy: .exchangeDefault, alpn: ["http/1.1"], strictSNI: false)
        #expect(store.select(serverName: "nothing.example", clientOffersECDSA: true)?.leaf === certs.legacyCN.leaf)
    }

    @Test func emptyStoreAndBadALPNAreRefused() throws {
        let certs = try Self.certs.get()
        #expect(throws: TLSError.self) {
            try CertificateStore(certificates: [], defaultCertificate: nil, policy: .exchangeDefault, alpn: ["h2"], strictSNI: false)
        }
        let error = #expect(throws: TLSError.self) {
            try CertificateStore(
                certificates: [certs.mailEC], defaultCertificate: nil, policy: .exchangeDefault, alpn: [""], strictSNI: false)
        }
        #expect(error?.kind == .configuration)
    }

    @Test func clientHelloParsersAcceptOnlyWellFormedInput() {
        // server_name list: 2-byte length, type 0, 2-byte length, name.
        let name = Array("mail.contoso.com".utf8)
        let entry: [UInt8] = [0, UInt8(name.count >> 8), UInt8(name.count & 0xFF)] + name
        let good = [UInt8(entry.count >> 8), UInt8(entry.count & 0xFF)] + entry
        #expect(ClientHelloFacts.parseServerName(good) == "mail.contoso.com")
        #expect(ClientHelloFacts.parseServerName(Array(good.dropLast())) == nil)
        var bad = good
        bad[bad.count - 1] = 0xC3  // non-ASCII byte
        #expect(ClientHelloFacts.parseServerName(bad) == nil)
        #expect(ClientHelloFacts.parseServerName([]) == nil)
        #expect(ClientHelloFacts.hasECDSASigalg([0, 4, 0x08, 0x04, 0x04, 0x03]))
        #expect(!ClientHelloFacts.hasECDSASigalg([0, 4, 0x08, 0x04, 0x08, 0x09]))
        #expect(ClientHelloFacts.hasTLS13([4, 0x03, 0x04, 0x03, 0x03]))
        #expect(!ClientHelloFacts.hasTLS13([2, 0x03, 0x03]))
    }
}
