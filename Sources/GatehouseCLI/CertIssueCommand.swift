import ArgumentParser
import Foundation
import GatehouseTLS

/// `gatehouse cert issue`: a server certificate signed by a CA made with `new-self-signed --ca`.
struct CertIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a server certificate signed by a local CA (for a lab or demo PKI).",
        discussion: """
            The CA is <dir>/ca.pem + <dir>/ca.key, or a CA certificate file FILE.pem with FILE.key \
            next to it. The certificate gets CN=<first --dns> (or --subject), the DNS names, EKU \
            serverAuth, CA:FALSE, SHA-256, and is valid for 200 days (the CA/Browser Forum's \
            maximum since March 2026) unless --days says otherwise.
            Writes <out>/<name>.pem and <out>/<name>.key (mode 0600).

            Example:
              gatehouse cert issue --ca certs --name mail --dns mail.contoso.lab \\
                --dns autodiscover.contoso.lab --key p256 --out certs
            """)

    @Option(help: ArgumentHelp("The CA: a directory holding ca.pem and ca.key, or the CA's .pem file.", valueName: "dir-or-file"))
    var ca: String

    @Option(help: ArgumentHelp("Output file name (without extension).", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("A DNS name for the certificate (repeatable; '*.' wildcards allowed).", valueName: "name"))
    var dns: [String] = []

    @Option(help: ArgumentHelp("Subject instead of CN=<first --dns>, e.g. \"O=Contoso,CN=mail.contoso.lab\".", valueName: "dn"))
    var subject: String?

    @Option(help: "Key type.")
    var key: CertKeyChoice = .rsa2048

    @Option(
        help: ArgumentHelp("Validity in days (default 200, the CA/Browser Forum's maximum for TLS server certificates).", valueName: "days")
    )
    var days: Int = 200

    @OptionGroup var output: CertOutputOptions

    func run() throws {
        try CertCLI.checkBaseName(name)
        guard let first = dns.first else {
            throw CertCLIError("--dns: give at least one DNS name (e.g. --dns mail.contoso.lab)")
        }
        for entry in dns { try HostNameRules.validate(entry, allowWildcard: true, source: "--dns") }
        let subjectName =
            try subject.map { try DistinguishedName(parsing: $0, source: "--subject") }
            ?? DistinguishedName(commonName: first.lowercased())
        if let commonName = subjectName.commonName {
            try HostNameRules.validate(commonName, allowWildcard: true, source: "--subject CN")
        }
        let spec = try CertificateSpec(subject: subjectName, dnsNames: dns, validityDays: days).validated()

        let (caCertificatePath, caKeyPath) = Self.caPaths(ca)
        guard let caCertificate = try X509Certificate.chain(pemFile: caCertificatePath).first else {
            throw CertCLIError("\(caCertificatePath): no certificate found")
        }
        let caKey = try PrivateKey(pemFile: caKeyPath)
        guard caKey.matches(caCertificate) else {
            throw CertCLIError("\(caKeyPath): the key does not match the CA certificate \(caCertificatePath)")
        }

        let certificatePath = output.path(name, "pem")
        let keyPath = output.path(name, "key")
        try output.checkWritable([certificatePath, keyPath])
        let privateKey = try PrivateKey.generate(key.algorithm)
        let certificate = try CertificateFactory.issue(
            spec, subjectKey: privateKey, issuer: caCertificate,
            issuerKey: caKey, issuerSource: caCertificatePath)
        try CertCLI.writeKeyAndPEM(
            key: privateKey, keyPath: keyPath, pem: certificate.pemString,
            pemPath: certificatePath, overwrite: output.force)
        print("Issued certificate \(certificatePath)")
        print("  Subject:    \(spec.subject)")
        print("  DNS names:  \(spec.dnsNames.joined(separator: ", "))")
        print("  Issuer:     \(certificate.issuerLine)")
        print("  Key:        \(privateKey.keyDescription) in \(keyPath) (mode 0600)")
        print("  Valid for:  \(spec.validityDays) days")
    }

    /// The CA certificate and key paths for `--ca`: a directory means ca.pem/ca.key inside it;
    /// a file means that file and the same name with .key.
    static func caPaths(_ argument: String) -> (certificate: String, key: String) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue {
            let directory = URL(fileURLWithPath: argument)
            return (directory.appendingPathComponent("ca.pem").path, directory.appendingPathComponent("ca.key").path)
        }
        return (argument, (argument as NSString).deletingPathExtension + ".key")
    }
}
