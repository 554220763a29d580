import ArgumentParser
import Foundation
import GatehouseTLS

/// `gatehouse cert list`: Get-ExchangeCertificate for PEM files.
struct CertListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List certificates with thumbprint, names, validity, key and status.",
        discussion: """
            One row per certificate (each certificate of a chain file gets its own row). Columns follow \
            Get-ExchangeCertificate: Thumbprint (SHA-1), Subject, CertificateDomains, Issuer, NotBefore, \
            NotAfter, HasPrivateKey, IsSelfSigned, PublicKeySize, Status (Valid, Expired, NotYetValid, \
            ExpiresSoon = less than 30 days left), and with --config, Services (the listeners and pools \
            that use it).
            HasPrivateKey is True when a key that matches the certificate is given on the command line \
            (a .key file) or sits next to it (mail.pem -> mail.key). A key that matches no certificate, \
            or a neighbouring key for a different certificate, is an error.
            Directories are searched (not recursively) for *.pem, *.crt, *.cer and *.key files.
            Problems are printed one line each on standard error; the exit status is then 1.
            """)

    @Argument(help: ArgumentHelp("Certificate files (PEM), .key files, or directories.", valueName: "file"))
    var files: [String] = []

    @Option(help: "Output format.")
    var format: CertListFormat = .table

    @Option(
        help: ArgumentHelp(
            "A Gatehouse configuration: fills Services (which listeners and pools use each certificate); without files, lists the certificates it refers to.",
            valueName: "file"))
    var config: String?

    func run() throws {
        var arguments = files
        var usage = CertConfigSupport.Usage()
        if let config {
            let configuration = try CertConfigSupport.load(config)
            usage = CertConfigSupport.usage(configuration)
            if arguments.isEmpty { arguments = CertConfigSupport.referencedFiles(configuration) }
        }
        guard !arguments.isEmpty else {
            throw CertCLIError("give one or more certificate files or directories, e.g. gatehouse cert list certs-example")
        }
        var inventory = CertInventory()
        inventory.load(arguments: arguments)
        let rows = inventory.rows(usage: usage)
        switch format {
        case .table: print(CertListRenderer.table(rows), terminator: "")
        case .json: print(try CertListRenderer.json(rows))
        }
        for problem in inventory.problems {
            CertCLI.printError("Error: \(problem)")
        }
        if !inventory.problems.isEmpty { throw ExitCode.failure }
    }
}

/// `--format` values for `cert list`.
enum CertListFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}
