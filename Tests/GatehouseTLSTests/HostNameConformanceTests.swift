import Foundation
import Testing

@testable import GatehouseTLS

/// Certificate-name semantics (RFC 6125 / RFC 9525, the CA/Browser Forum's wildcard rule), as one
/// table checked against every use of `HostNameMatching`: the pure rule, `X509Certificate.covers`
/// (Host header → 421), SNI certificate selection, and backend verification over a real handshake.
/// The cases were written here after reading the public suites of Go's crypto/x509
/// (verify_test.go, name matching), rustls/webpki (name tests) and x509-limbo (RFC 6125 and
/// CA/B cases); expectations follow the rules documented on `HostNameMatching`.
@Suite struct HostNameConformanceTests {
    /// (name in the certificate's SAN, host as a client sends it, covered?).
    static let dnsTable: [(String, String, Bool)] = [
        // Exact names; ASCII-only case folding.
        ("mail.contoso.com", "mail.contoso.com", true),
        ("mail.contoso.com", "MAIL.CONTOSO.COM", true),
        ("MAIL.Contoso.com", "mail.contoso.com", true),
        ("mail.contoso.com", "mail.contoso.co", false),
        ("mail.contoso.com", "mail.contoso.com.evil", false),
        ("mail.contoso.com", "xmail.contoso.com", false),
        ("mail.contoso.com", ".mail.contoso.com", false),
        ("mail.contoso.com", "mail..contoso.com", false),
        ("kb.contoso.com", "\u{212A}b.contoso.com", false),  // KELVIN SIGN folds to k only in Unicode
        ("mail.contoso.com", "ma\u{130}l.contoso.com", false),  // dotted capital I
        ("bücher.example", "bücher.example", false),  // U-labels are not DNS names
        ("xn--bcher-kva.example", "XN--BCHER-KVA.example", true),  // A-labels are
        ("mbx01", "mbx01", true),  // single-label internal names
        ("mbx01", "MBX01.", true),
        // One trailing dot on the host is ignored; never on the certificate name.
        ("mail.contoso.com", "mail.contoso.com.", true),
        ("mail.contoso.com", "mail.contoso.com..", false),
        ("mail.contoso.com.", "mail.contoso.com", false),
        ("mail.contoso.com.", "mail.contoso.com.", false),
        // Wildcards: the whole left-most label, exactly one label.
        ("*.contoso.com", "mail.contoso.com", true),
        ("*.Contoso.Com", "OWA.contoso.com.", true),
        ("*.contoso.com", "contoso.com", false),
        ("*.contoso.com", "a.b.contoso.com", false),
        ("*.contoso.com", ".contoso.com", false),
        ("*.contoso.com", "*.contoso.com", false),  // a host is never a pattern
        ("*.contoso.com.", "mail.contoso.com", false),
        ("f*.contoso.com", "foo.contoso.com", false),
        ("*o.contoso.com", "foo.contoso.com", false),
        ("f*o.contoso.com", "foo.contoso.com", false),
        ("mail.*.com", "mail.contoso.com", false),
        ("*.*.contoso.com", "a.b.contoso.com", false),
        ("**.contoso.com", "a.contoso.com", false),
        ("*", "localhost", false),
        ("xn--*.contoso.com", "xn--bcher-kva.contoso.com", false),
        ("*.contoso.com", "xn--bcher-kva.contoso.com", true),
        ("*.xn--bcher-kva.example", "mail.xn--bcher-kva.example", true),
        // Never over a public suffix (ICANN section) or a bare label.
        ("*.com", "contoso.com", false),
        ("*.co.uk", "contoso.co.uk", false),
        ("*.tokyo.jp", "contoso.tokyo.jp", false),
        ("*.contoso.co.uk", "mail.contoso.co.uk", true),
        ("*.local", "mbx01.local", false),
        ("*.contoso.local", "mbx01.contoso.local", true),
        // IP literals are never DNS names, in either role.
        ("192.0.2.1", "192.0.2.1", false),
        ("*.0.2.1", "192.0.2.1", false),
        ("*.2.1", "0.2.1", false),
        ("mail.contoso.com", "127.1", false),
        ("example.123", "example.123", false),  // numeric top-level label
        ("example.0x1f", "example.0x1f", false),
        ("1.2.3.4.example", "1.2.3.4.example", true),  // numeric inner labels are fine
        // LDH labels: no leading or trailing hyphen; underscore accepted (internal AD names).
        ("-mail.contoso.com", "-mail.contoso.com", false),
        ("mail-.contoso.com", "mail-.contoso.com", false),
        ("ma-il.contoso.com", "ma-il.contoso.com", true),
        ("mbx_01.contoso.local", "mbx_01.contoso.local", true),
        ("*.contoso.local", "mbx_01.contoso.local", true),
        ("mail contoso.com", "mail contoso.com", false),
        ("mail.contoso.com", "mail.contoso.com\u{0}.evil.com", false),
        (String(repeating: "a", count: 63) + ".contoso.com", String(repeating: "A", count: 63) + ".contoso.com", true),
        (String(repeating: "a", count: 64) + ".contoso.com", String(repeating: "a", count: 64) + ".contoso.com", false),
        (
            Array(repeating: "abcdefghi", count: 26).joined(separator: "."),
            Array(repeating: "abcdefghi", count: 26).joined(separator: "."), false
        )
    ]

    /// Names `openssl req` cannot put in a certificate (it ends the name at a NUL): the rule alone.
    static let ruleOnlyTable: [(String, String, Bool)] = [
        ("mail.contoso.com\u{0}.evil.com", "mail.contoso.com", false),
        ("mail.contoso.com\u{0}", "mail.contoso.com", false)
    ]

    /// (iPAddress in the certificate's SAN, host as a client sends it, covered?).
    static let ipTable: [(String, String, Bool)] = [
        ("192.0.2.1", "192.0.2.1", true),
        ("192.0.2.1", "192.0.2.1.", true),
        ("192.0.2.1", "192.0.2.2", false),
        ("127.0.0.1", "127.1", true),  // the short forms URL parsers accept
        ("127.0.0.1", "2130706433", true),
        ("127.0.0.1", "0x7f.1", true),
        ("127.0.0.1", "0177.0.0.1", true),
        ("127.0.0.1", "1.2.3.4.5", false),
        ("127.0.0.1", "127.0.0.256", false),
        ("::1", "[::1]", true),
        ("::1", "0:0:0::1", true),
        ("2001:db8::1", "[2001:DB8:0::1]", true),
        ("192.0.2.1", "::ffff:192.0.2.1", false)  // another family, another address
    ]

    /// One certificate per distinct SAN, made once for the whole suite.
    final class Certificates: Sendable {
        let pki: TestPKI
        let byDNS: [String: TestPKI.Files]
        let byIP: [String: TestPKI.Files]
        let fallback: TestPKI.Files

        init() throws {
            pki = try TestPKI()
            var dns: [String: TestPKI.Files] = [:]
            for (name, _, _) in HostNameConformanceTests.dnsTable where dns[name] == nil {
                dns[name] = try pki.selfSigned(cn: "conformance", dns: [name])
            }
            var ips: [String: TestPKI.Files] = [:]
            for (address, _, _) in HostNameConformanceTests.ipTable where ips[address] == nil {
                ips[address] = try pki.selfSigned(cn: "conformance", ips: [address])
            }
            byDNS = dns
            byIP = ips
            fallback = try pki.selfSigned(cn: "fallback", dns: ["fallback.invalid"])
        }
    }

    static let certificates = Result { try Certificates() }

    @Test func theRuleItself() {
        for (pattern, host, expected) in Self.dnsTable + Self.ruleOnlyTable {
            #expect(HostNameMatching.matches(pattern: pattern, host: host) == expected, "\(pattern) vs \(host)")
        }
    }

    @Test func hostHeaderCoverage() throws {
        let certificates = try Self.certificates.get()
        for (pattern, host, expected) in Self.dnsTable {
            let leaf = try X509Certificate.chain(pemFile: #require(certificates.byDNS[pattern]).certificate)[0]
            #expect(leaf.covers(hostName: host) == expected, "\(pattern) vs \(host)")
        }
        for (address, host, expected) in Self.ipTable {
            let leaf = try X509Certificate.chain(pemFile: #require(certificates.byIP[address]).certificate)[0]
            #expect(leaf.covers(hostName: host) == expected, "IP \(address) vs \(host)")
        }
        // A DNS SAN spelling an IPv4 address never covers that address, in any form.
        let dnsSpelled = try X509Certificate.chain(
            pemFile: certificates.pki.selfSigned(cn: "x", dns: ["192.0.2.1", "127.0.0.1"]).certificate)[0]
        for host in ["192.0.2.1", "127.0.0.1", "127.1", "2130706433"] {
            #expect(!dnsSpelled.covers(hostName: host), "DNS SAN spelling \(host)")
        }
    }

    @Test func sniSelection() throws {
        let certificates = try Self.certificates.get()
        let fallback = try certificates.pki.certified(certificates.fallback)
        for (pattern, host, expected) in Self.dnsTable {
            let candidate = try certificates.pki.certified(#require(certificates.byDNS[pattern]))
            let store = try CertificateStore(
                certificates: [fallback, candidate], defaultCertificate: fallback,
                policy: .exchangeDefault, alpn: ["http/1.1"], strictSNI: true)
            let chosen = store.select(serverName: host, clientOffersECDSA: true)
            #expect((chosen?.leaf.sha256Fingerprint == candidate.leaf.sha256Fingerprint) == expected, "\(pattern) vs SNI \(host)")
        }
        // SNI never carries an address (RFC 6066): an IP-looking name selects nothing, even from a
        // certificate that holds that address.
        for (address, host, _) in Self.ipTable {
            let candidate = try certificates.pki.certified(#require(certificates.byIP[address]))
            let store = try CertificateStore(
                certificates: [fallback, candidate], defaultCertificate: fallback,
                policy: .exchangeDefault, alpn: ["http/1.1"], strictSNI: true)
            #expect(store.select(serverName: host, clientOffersECDSA: true) == nil, "IP \(address) vs SNI \(host)")
        }
    }

    /// Backend verification over real handshakes, for the rows where OpenSSL's own host check and
    /// these rules could differ, plus one of each kind.
    @Test(arguments: [
        ("*.contoso.local", "mbx01.contoso.local", true),
        ("*.contoso.local", "contoso.local", false),
        ("*.co.uk", "contoso.co.uk", false),
        ("mbx01.contoso.local.", "mbx01.contoso.local", false),
        ("f*.contoso.local", "foo.contoso.local", false),
        ("mbx_01.contoso.local", "mbx_01.contoso.local", true),
        ("192.0.2.1", "192.0.2.1", false),
        ("MBX01.Contoso.Local", "mbx01.contoso.local.", true)
    ])
    func backendVerification(pattern: String, tlsName: String, expected: Bool) async throws {
        let certificates = try Self.certificates.get()
        let files = try certificates.byDNS[pattern] ?? certificates.pki.selfSigned(cn: "conformance", dns: [pattern])
        let completed = try await handshake(files, pki: certificates.pki, tlsName: tlsName)
        #expect(completed == expected, "\(pattern) vs backend \(tlsName)")
    }

    @Test(arguments: [
        ("127.0.0.1", "127.1", true), ("127.0.0.1", "127.0.0.1", true), ("::1", "::1", true),
        ("192.0.2.1", "127.0.0.1", false)
    ])
    func backendVerificationByAddress(address: String, tlsName: String, expected: Bool) async throws {
        let certificates = try Self.certificates.get()
        let files = try certificates.byIP[address] ?? certificates.pki.selfSigned(cn: "conformance", ips: [address])
        let completed = try await handshake(files, pki: certificates.pki, tlsName: tlsName)
        #expect(completed == expected, "IP \(address) vs backend \(tlsName)")
    }

    /// Whether a client trusting exactly `files`' certificate, verifying `tlsName`, completes a
    /// handshake with a server presenting it (and gets a byte through).
    func handshake(_ files: TestPKI.Files, pki: TestPKI, tlsName: String) async throws -> Bool {
        let store = try CertificateStore(
            certificates: [pki.certified(files)], defaultCertificate: nil,
            policy: .exchangeDefault, alpn: ["http/1.1"], strictSNI: false)
        let leaf = try X509Certificate.chain(pemFile: files.certificate)[0]
        let bed = TLSTestBed()
        try await bed.startServer(store: store)
        let client = try TLSClientContext(trust: BackendTrust(trustedCertificates: [leaf]))
        let (channel, log) = try await bed.connect(context: client, serverName: tlsName)
        try? await send(channel, [42])
        _ = await eventually { log.bytes == [42] || log.inactive }
        try? await channel.close().get()
        await bed.shutdown()
        if log.bytes == [42] { return true }
        #expect(log.tlsErrors.first?.message.contains("hostname mismatch") == true, "\(log.tlsErrors)")
        return false
    }
}
