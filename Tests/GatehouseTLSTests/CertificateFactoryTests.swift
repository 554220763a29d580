import Foundation
import GatehouseTLS
import Testing

/// Certificates, requests and keys made through GatehouseTLS's public API, read back by `openssl`.
@Suite struct CertificateFactoryTests {
    /// Writes a certificate to a temp file and returns `openssl x509 -text -noout` of it.
    private func opensslText(_ certificate: X509Certificate, in dir: String, name: String) throws -> String {
        try PEMFileWriter.write(certificate.pemString, to: "\(dir)/\(name).pem", mode: PEMFileWriter.publicMode, overwrite: false)
        return try CertificateTestTools.openssl(["x509", "-in", "\(dir)/\(name).pem", "-text", "-noout"])
    }

    @Test func exchangeBackEndCertificateHasTheDefaultProfile() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let key = try PrivateKey.generate(.rsa2048)
        let certificate = try CertificateFactory.selfSigned(.exchangeBackEnd(name: "mbx01", fqdn: "mbx01.contoso.lab"), key: key)
        let text = try opensslText(certificate, in: dir, name: "mbx01")
        #expect(text.contains("Subject: CN = mbx01"))
        #expect(text.contains("Issuer: CN = mbx01"))
        #expect(text.contains("DNS:mbx01, DNS:mbx01.contoso.lab"))
        #expect(text.contains("Public-Key: (2048 bit)"))
        #expect(text.contains("Signature Algorithm: sha256WithRSAEncryption"))
        #expect(text.contains("TLS Web Server Authentication"))
        #expect(text.contains("X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment"))
        #expect(text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"))
        #expect(text.contains("X509v3 Subject Key Identifier"))
        #expect(text.contains("Version: 3 (0x2)"))
        // Serial: 16 random bytes (printed as 16 colon-separated hex pairs).
        #expect(certificate.serialNumberHex.count == 32)
        let other = try CertificateFactory.selfSigned(.exchangeBackEnd(name: "mbx01", fqdn: "mbx01.contoso.lab"), key: key)
        #expect(other.serialNumberHex != certificate.serialNumberHex)
        // Five years, to the day.
        let days = certificate.notAfter.timeIntervalSince(certificate.notBefore) / 86_400
        #expect(abs(days - 1825) < 0.01)
        #expect(abs(certificate.notBefore.timeIntervalSinceNow) < 120)
        // Facts read through the library agree.
        #expect(certificate.isSelfSigned)
        #expect(!certificate.isCertificateAuthority)
        #expect(certificate.publicKeySize == 2048)
        #expect(certificate.publicKeyDescription == "RSA 2048")
        #expect(certificate.signatureAlgorithmName == "sha256WithRSAEncryption")
        #expect(certificate.dnsNames == ["mbx01", "mbx01.contoso.lab"])
        #expect(key.matches(certificate))
    }

    @Test func ecdsaLeafUsesDigitalSignatureOnly() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let key = try PrivateKey.generate(.p256)
        #expect(key.keyDescription == "EC P-256")
        let certificate = try CertificateFactory.selfSigned(
            .exchangeBackEnd(name: "mbx02", fqdn: "mbx02.contoso.lab", validityDays: 30), key: key)
        let text = try opensslText(certificate, in: dir, name: "mbx02")
        #expect(text.contains("NIST CURVE: P-256"))
        #expect(text.contains("Signature Algorithm: ecdsa-with-SHA256"))
        #expect(text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"))
        #expect(!text.contains("Key Encipherment"))
        #expect(certificate.publicKeySize == 256)
    }

    @Test func rsa4096KeysAreGenerated() throws {
        let key = try PrivateKey.generate(.rsa4096)
        #expect(key.keyDescription == "RSA 4096")
    }

    @Test func rootCAIssuesLeafThatOpenSSLVerifies() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let caKey = try PrivateKey.generate(.p256)
        let caSpec = CertificateSpec(
            subject: try DistinguishedName(parsing: "O=Contoso,CN=Contoso Lab Root CA", source: "test"),
            dnsNames: [], validityDays: 3650, kind: .certificateAuthority)
        let ca = try CertificateFactory.selfSigned(caSpec, key: caKey)
        #expect(ca.isCertificateAuthority)
        #expect(ca.isSelfSigned)
        let caText = try opensslText(ca, in: dir, name: "ca")
        #expect(caText.contains("X509v3 Basic Constraints: critical\n                CA:TRUE"))
        #expect(caText.contains("Certificate Sign, CRL Sign"))
        #expect(caText.contains("Subject: O = Contoso, CN = Contoso Lab Root CA"))

        let leafKey = try PrivateKey.generate(.rsa2048)
        let spec = CertificateSpec(
            subject: DistinguishedName(commonName: "mail.contoso.lab"),
            dnsNames: ["mail.contoso.lab", "Autodiscover.Contoso.Lab"], validityDays: 397)
        let leaf = try CertificateFactory.issue(spec, subjectKey: leafKey, issuer: ca, issuerKey: caKey)
        #expect(!leaf.isSelfSigned)
        #expect(leaf.issuerLine == "CN=Contoso Lab Root CA, O=Contoso")
        #expect(leaf.dnsNames == ["mail.contoso.lab", "autodiscover.contoso.lab"])
        let leafText = try opensslText(leaf, in: dir, name: "mail")
        #expect(leafText.contains("Signature Algorithm: ecdsa-with-SHA256"))  // signed by the EC CA key
        #expect(leafText.contains("X509v3 Authority Key Identifier"))
        let verify = try CertificateTestTools.openssl(["verify", "-CAfile", "\(dir)/ca.pem", "\(dir)/mail.pem"])
        #expect(verify.contains("mail.pem: OK"))
    }

    @Test func issuingRefusesMismatchedOrNonCAIssuers() throws {
        let caKey = try PrivateKey.generate(.p256)
        let ca = try CertificateFactory.selfSigned(
            CertificateSpec(subject: DistinguishedName(commonName: "Lab CA"), dnsNames: [], validityDays: 100, kind: .certificateAuthority),
            key: caKey)
        let otherKey = try PrivateKey.generate(.p256)
        let spec = CertificateSpec(subject: DistinguishedName(commonName: "a.contoso.lab"), dnsNames: ["a.contoso.lab"], validityDays: 10)
        #expect(throws: TLSError.self) {
            try CertificateFactory.issue(spec, subjectKey: otherKey, issuer: ca, issuerKey: otherKey, issuerSource: "ca.pem")
        }
        do {
            _ = try CertificateFactory.issue(spec, subjectKey: otherKey, issuer: ca, issuerKey: otherKey, issuerSource: "ca.pem")
        } catch let error as TLSError {
            #expect(error.kind == .keyMismatch)
            #expect(error.message.hasPrefix("ca.pem:"))
        }
        // A leaf is not a CA.
        let leaf = try CertificateFactory.selfSigned(.exchangeBackEnd(name: "mbx01", fqdn: "mbx01.contoso.lab"), key: otherKey)
        #expect(throws: TLSError.self) {
            try CertificateFactory.issue(spec, subjectKey: caKey, issuer: leaf, issuerKey: otherKey)
        }
        // The leaf may not outlive its CA.
        var long = spec
        long.validityDays = 1000
        #expect(throws: TLSError.self) {
            try CertificateFactory.issue(long, subjectKey: otherKey, issuer: ca, issuerKey: caKey)
        }
    }

    @Test func requestCarriesSubjectAndSANsAndVerifies() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let key = try PrivateKey.generate(.rsa2048)
        let subject = try DistinguishedName(parsing: "C=US, O=Contoso\\, Ltd, CN=mail.contoso.com", source: "--subject")
        #expect(subject.attributes.map(\.value) == ["US", "Contoso, Ltd", "mail.contoso.com"])
        let request = try CertificateFactory.request(subject: subject, dnsNames: ["mail.contoso.com", "autodiscover.contoso.com"], key: key)
        #expect(request.signatureIsValid)
        #expect(request.dnsNames == ["mail.contoso.com", "autodiscover.contoso.com"])
        #expect(request.subjectLine == "CN=mail.contoso.com, O=Contoso, Ltd, C=US")
        #expect(request.publicKeyDescription == "RSA 2048")
        try PEMFileWriter.write(request.pemString, to: "\(dir)/mail.csr", mode: PEMFileWriter.publicMode, overwrite: false)
        let text = try CertificateTestTools.openssl(["req", "-in", "\(dir)/mail.csr", "-verify", "-noout", "-text"])
        #expect(text.contains("verify OK"))
        #expect(text.contains("DNS:mail.contoso.com, DNS:autodiscover.contoso.com"))
        #expect(text.contains("Signature Algorithm: sha256WithRSAEncryption"))
        // Round trip through PEM.
        let parsed = try CertificateSigningRequest(pem: Array(request.pemString.utf8), source: "mail.csr")
        #expect(parsed.dnsNames == request.dnsNames)
        #expect(throws: TLSError.self) { try CertificateSigningRequest(pem: Array("nope".utf8), source: "x.csr") }
    }

    @Test func keyFilesAreBornPrivate() throws {
        let dir = try CertificateTestTools.temporaryDirectory()
        defer { CertificateTestTools.remove(dir) }
        let key = try PrivateKey.generate(.p256)
        let path = "\(dir)/k.key"
        // (The umask is process-wide and tests run in parallel, so it is left alone here.)
        try key.writePEM(to: path)
        #expect(try CertificateTestTools.fileMode(path) == 0o600)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["k.key"])
        // Refuses to replace unless asked; replacing keeps 0600.
        #expect(throws: TLSError.self) { try key.writePEM(to: path) }
        try PrivateKey.generate(.p256).writePEM(to: path, overwrite: true)
        #expect(try CertificateTestTools.fileMode(path) == 0o600)
        let reread = try PrivateKey(pemFile: path)
        #expect(reread.keyDescription == "EC P-256")
        #expect(throws: TLSError.self) { try key.writePEM(to: "\(dir)/missing/k.key") }
    }

    @Test func hostNameRulesAcceptLDHNamesAndOneLeftWildcard() throws {
        #expect(try HostNameRules.validate("MBX01", allowWildcard: false, source: "--name") == "mbx01")
        #expect(try HostNameRules.validate("mail.contoso.lab", allowWildcard: false, source: "--dns") == "mail.contoso.lab")
        #expect(try HostNameRules.validate("*.contoso.lab", allowWildcard: true, source: "--dns") == "*.contoso.lab")
        let bad: [(String, Bool, String)] = [
            ("", true, "empty"), ("under_score.contoso.lab", true, "'_'"), ("sp ace", true, "' '"),
            ("a..b", true, "empty label"), ("-a.b", true, "start or end"), ("mail.contoso.lab.", true, "trailing dot"),
            ("*.com", true, "top-level"), ("mail.*.contoso.lab", true, "left-most"), ("m*.contoso.lab", true, "'*'"),
            ("*.contoso.lab", false, "not allowed here"), ("10.0.0.1", true, "IP address"),
            (String(repeating: "a", count: 64) + ".lab", true, "63"), ("caf\u{e9}.lab", true, "\\u{e9}"),
            ("new\nline.lab", true, "\\u{a}")
        ]
        for (name, wildcard, fragment) in bad {
            do {
                try HostNameRules.validate(name, allowWildcard: wildcard, source: "--dns")
                Issue.record("\(name) should be refused")
            } catch let error as TLSError {
                #expect(error.kind == .invalidName)
                #expect(error.message.hasPrefix("--dns \""))
                #expect(error.message.contains(fragment), "\(error.message) should mention \(fragment)")
                #expect(!error.message.contains("\n"))
            }
        }
    }

    @Test func specValidationRejectsBadNamesAndLifetimes() throws {
        let key = try PrivateKey.generate(.p256)
        let badCN = CertificateSpec(subject: DistinguishedName(commonName: "mail_server"), dnsNames: ["mail.contoso.lab"], validityDays: 10)
        #expect(throws: TLSError.self) { try CertificateFactory.selfSigned(badCN, key: key) }
        let noNames = CertificateSpec(subject: DistinguishedName(commonName: "mail.contoso.lab"), dnsNames: [], validityDays: 10)
        #expect(throws: TLSError.self) { try CertificateFactory.selfSigned(noNames, key: key) }
        let zeroDays = CertificateSpec.exchangeBackEnd(name: "mbx01", fqdn: "mbx01.contoso.lab", validityDays: 0)
        #expect(throws: TLSError.self) { try CertificateFactory.selfSigned(zeroDays, key: key) }
        #expect(throws: TLSError.self) { try DistinguishedName(parsing: "C=USA,CN=x", source: "--subject") }
        #expect(throws: TLSError.self) { try DistinguishedName(parsing: "Foo=bar", source: "--subject") }
        #expect(throws: TLSError.self) { try DistinguishedName(parsing: "CN", source: "--subject") }
        #expect(throws: TLSError.self) { try DistinguishedName(parsing: " , ", source: "--subject") }
        // Duplicates collapse, case folds.
        let spec = try CertificateSpec(
            subject: DistinguishedName(commonName: "a.contoso.lab"),
            dnsNames: ["A.contoso.lab", "a.contoso.lab", "b.contoso.lab"], validityDays: 1
        ).validated()
        #expect(spec.dnsNames == ["a.contoso.lab", "b.contoso.lab"])
    }

    @Test func statusFollowsTheValidityWindow() throws {
        let key = try PrivateKey.generate(.p256)
        let certificate = try CertificateFactory.selfSigned(
            .exchangeBackEnd(name: "mbx01", fqdn: "mbx01.contoso.lab", validityDays: 100), key: key)
        let now = Date()
        #expect(certificate.status(at: now) == .valid)
        #expect(certificate.status(at: now.addingTimeInterval(75 * 86_400)) == .expiresSoon)
        #expect(certificate.status(at: now.addingTimeInterval(101 * 86_400)) == .expired)
        #expect(certificate.status(at: now.addingTimeInterval(-86_400)) == .notYetValid)
        let remaining = certificate.secondsUntilExpiry(from: now) / 86_400
        #expect(abs(remaining - 100) < 0.01)
    }

    @Test func sanPlannerExplainsEachName() {
        let plain = SANPlanner.plan(hostNames: ["Mail.contoso.com", "autodiscover.contoso.com", "mail.contoso.com"], useWildcard: false)
        #expect(plain.map(\.name) == ["mail.contoso.com", "autodiscover.contoso.com"])
        #expect(plain.allSatisfy { $0.reason.contains("requested") })

        let wild = SANPlanner.plan(
            hostNames: [
                "mail.contoso.com", "autodiscover.contoso.com", "contoso.com",
                "owa.eu.contoso.com", "mbx01"
            ],
            useWildcard: true, origins: ["mail.contoso.com": "served by listener https (service owa)"])
        #expect(wild.map(\.name) == ["*.contoso.com", "contoso.com", "owa.eu.contoso.com", "mbx01"])
        #expect(
            wild[0].reason
                == "wildcard covering mail.contoso.com (served by listener https (service owa)), autodiscover.contoso.com (requested)")
        #expect(wild[1].reason.contains("top-level"))
        #expect(wild[2].reason.contains("only name under its parent"))

        // Names already covered by a configured wildcard are not repeated.
        let covered = SANPlanner.plan(hostNames: ["*.contoso.com", "mail.contoso.com", "contoso.com"], useWildcard: false)
        #expect(covered.map(\.name) == ["*.contoso.com", "contoso.com"])
        #expect(covered[0].reason == "requested; also covers mail.contoso.com")
        // A wildcard never spans a TLD: two names directly under .com stay separate.
        let tld = SANPlanner.plan(hostNames: ["contoso.com", "fabrikam.com"], useWildcard: true)
        #expect(tld.map(\.name) == ["contoso.com", "fabrikam.com"])
    }
}
