import ArgumentParser
import GatehouseTLS

/// `gatehouse cert request`: a PKCS#10 request (plus its new key) to send to a public CA.
struct CertRequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Create a certificate signing request (PKCS#10, SHA-256) and its private key.",
        discussion: """
            The request carries a subjectAltName extension with the DNS names. With --wildcard, names \
            that share a parent domain become one *.<parent> name (a wildcard covers exactly one label). \
            With --config, the names are every host name the chosen TLS listener serves (all \
            virtual services' hosts), plus any --dns. The names included are printed with the reason for each.
            Writes <out>/<name>.csr and <out>/<name>.key (mode 0600); <name> defaults to the first \
            --dns name ('*' becomes 'wildcard').

            Example:
              gatehouse cert request --subject "C=US,O=Contoso,CN=mail.contoso.com" \\
                --dns mail.contoso.com --dns autodiscover.contoso.com --out .
              gatehouse cert request --config conf/gatehouse.yaml --listener https --wildcard --out .
            """)

    @Option(help: ArgumentHelp("Subject, e.g. \"C=US,O=Contoso,CN=mail.contoso.com\" (default CN=<first name>).", valueName: "dn"))
    var subject: String?

    @Option(help: ArgumentHelp("A DNS name to request (repeatable).", valueName: "name"))
    var dns: [String] = []

    @Option(help: ArgumentHelp("Request every host name a listener of this Gatehouse configuration serves.", valueName: "file"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "The TLS listener whose host names to request (with --config; needed when there are several).", valueName: "name"))
    var listener: String?

    @Flag(help: "Use *.<parent> for names that share a parent domain.")
    var wildcard = false

    @Option(help: "Key type.")
    var key: CertKeyChoice = .rsa2048

    @Option(help: ArgumentHelp("Output file name (without extension).", valueName: "name"))
    var name: String?

    @OptionGroup var output: CertOutputOptions

    func run() throws {
        for entry in dns { try HostNameRules.validate(entry, allowWildcard: true, source: "--dns") }
        var hostNames: [String] = []
        var origins: [String: String] = [:]
        if let config {
            let configuration = try CertConfigSupport.load(config)
            let chosen = try CertConfigSupport.tlsListener(configuration, named: listener)
            (hostNames, origins) = CertConfigSupport.hostNames(configuration, listener: chosen)
            for host in hostNames {
                try HostNameRules.validate(host, allowWildcard: true, source: "\(config): host name")
            }
        } else if listener != nil {
            throw CertCLIError("--listener: needs --config FILE to know what the listener serves")
        }
        hostNames += dns
        guard !hostNames.isEmpty else {
            throw CertCLIError("--dns: give at least one DNS name (e.g. --dns mail.contoso.com), or --config FILE")
        }
        let plan = SANPlanner.plan(hostNames: hostNames, useWildcard: wildcard, origins: origins)
        let names = plan.map(\.name)
        let subjectName =
            try subject.map { try DistinguishedName(parsing: $0, source: "--subject") }
            ?? DistinguishedName(commonName: names[0])
        if let commonName = subjectName.commonName {
            try HostNameRules.validate(commonName, allowWildcard: true, source: "--subject CN")
        }
        let baseName = name ?? hostNames[0].lowercased().replacingOccurrences(of: "*", with: "wildcard")
        try CertCLI.checkBaseName(baseName)

        let requestPath = output.path(baseName, "csr")
        let keyPath = output.path(baseName, "key")
        try output.checkWritable([requestPath, keyPath])
        let privateKey = try PrivateKey.generate(key.algorithm)
        let request = try CertificateFactory.request(subject: subjectName, dnsNames: names, key: privateKey)
        try CertCLI.writeKeyAndPEM(
            key: privateKey, keyPath: keyPath, pem: request.pemString,
            pemPath: requestPath, overwrite: output.force)
        print("Created certificate request \(requestPath)")
        print("  Subject:    \(subjectName)")
        print("  Key:        \(privateKey.keyDescription) in \(keyPath) (mode 0600)")
        print("  DNS names:")
        for entry in plan {
            print("    \(entry.name): \(entry.reason)")
        }
    }
}
