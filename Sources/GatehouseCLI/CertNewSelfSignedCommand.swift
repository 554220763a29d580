import ArgumentParser
import GatehouseTLS

/// `gatehouse cert new-self-signed`: Exchange's default back-end certificate, or a small root CA.
struct CertNewSelfSignedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-self-signed",
        abstract: "Create a self-signed certificate like Exchange's default back-end one (or a root CA with --ca).",
        discussion: """
            Server certificate (default): CN=<name>, DNS names <name> and <fqdn> (plus any --dns), \
            EKU serverAuth, key usage digitalSignature+keyEncipherment (EC: digitalSignature), \
            basicConstraints CA:FALSE, SHA-256, random 16-byte serial, subject key id, 1825 days.
            Root CA (--ca): CA:TRUE, keyCertSign+cRLSign, 3650 days; set its name with \
            --subject "CN=Contoso Lab Root CA".
            Writes <out>/<name>.pem and <out>/<name>.key (mode 0600).

            Examples:
              gatehouse cert new-self-signed --name mbx01 --fqdn mbx01.contoso.lab --out certs
              gatehouse cert new-self-signed --ca --name ca --subject "CN=Contoso Lab Root CA" --out certs
            """)

    @Option(help: ArgumentHelp("Server name: the CN, a DNS name, and the output file name.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The server's fully qualified name, added as a DNS name.", valueName: "fqdn"))
    var fqdn: String?

    @Option(help: ArgumentHelp("An extra DNS name (repeatable).", valueName: "name"))
    var dns: [String] = []

    @Option(help: ArgumentHelp("Subject instead of CN=<name>, e.g. \"C=US,O=Contoso,CN=mbx01\" (a literal comma is \\,).", valueName: "dn"))
    var subject: String?

    @Option(help: "Key type.")
    var key: CertKeyChoice = .rsa2048

    @Option(help: ArgumentHelp("Validity in days (default 1825 for a server certificate, 3650 for a CA).", valueName: "days"))
    var days: Int?

    @Flag(help: "Make a root certificate authority instead of a server certificate.")
    var ca = false

    @OptionGroup var output: CertOutputOptions

    func run() throws {
        try CertCLI.checkBaseName(name)
        let subjectName =
            try subject.map { try DistinguishedName(parsing: $0, source: "--subject") }
            ?? DistinguishedName(commonName: name)
        let spec: CertificateSpec
        if ca {
            if fqdn != nil || !dns.isEmpty {
                throw CertCLIError("--ca: a root CA carries no DNS names; drop --fqdn/--dns")
            }
            spec = CertificateSpec(subject: subjectName, dnsNames: [], validityDays: days ?? 3650, kind: .certificateAuthority)
        } else {
            // The CN and first SAN are the server name, as Exchange's own certificate has them.
            try HostNameRules.validate(name, allowWildcard: false, source: "--name")
            if let commonName = subjectName.commonName {
                try HostNameRules.validate(commonName, allowWildcard: false, source: "--subject CN")
            }
            if let fqdn { try HostNameRules.validate(fqdn, allowWildcard: false, source: "--fqdn") }
            for extra in dns { try HostNameRules.validate(extra, allowWildcard: true, source: "--dns") }
            var names = [name]
            if let fqdn { names.append(fqdn) }
            spec = CertificateSpec(subject: subjectName, dnsNames: names + dns, validityDays: days ?? 1825)
        }
        let validated = try spec.validated()
        let certificatePath = output.path(name, "pem")
        let keyPath = output.path(name, "key")
        try output.checkWritable([certificatePath, keyPath])

        let privateKey = try PrivateKey.generate(key.algorithm)
        let certificate = try CertificateFactory.selfSigned(validated, key: privateKey)
        try CertCLI.writeKeyAndPEM(
            key: privateKey, keyPath: keyPath, pem: certificate.pemString,
            pemPath: certificatePath, overwrite: output.force)
        print("Created \(ca ? "root CA" : "self-signed") certificate \(certificatePath)")
        print("  Subject:    \(validated.subject)")
        if !validated.dnsNames.isEmpty { print("  DNS names:  \(validated.dnsNames.joined(separator: ", "))") }
        print("  Key:        \(privateKey.keyDescription) in \(keyPath) (mode 0600)")
        print("  Valid for:  \(validated.validityDays) days")
    }
}
