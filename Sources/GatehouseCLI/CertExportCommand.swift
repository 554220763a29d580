import ArgumentParser
import Foundation
import GatehouseTLS

/// `gatehouse cert export --pfx`: the front end's certificate and key as a PKCS#12 file for
/// `Import-ExchangeCertificate`, so the Exchange servers present the same certificate as Gatehouse
/// and Extended Protection's channel binding matches through the bridge.
struct CertExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a certificate, its chain and key as a password-protected PKCS#12 (.pfx) file.",
        discussion: """
            The file is encrypted with AES-256-CBC (PBKDF2) and carries a SHA-256 MAC, which Windows \
            Server 2016 and later import. It holds the private key: it is written with mode 0600. \
            The password comes from the first line of --password-file, or is asked for twice on the \
            terminal.

            On each Exchange server (Exchange Management Shell):
              Import-ExchangeCertificate -Server MBX01 -FileData ([System.IO.File]::ReadAllBytes('C:\\mail.pfx')) \\
                -Password (Read-Host -AsSecureString 'PFX password') -PrivateKeyExportable $true
              Enable-ExchangeCertificate -Server MBX01 -Thumbprint <thumbprint> -Services IIS

            Example:
              gatehouse cert export --pfx mail.pfx --certificate certs/mail-rsa.pem --key certs/mail-rsa.key \\
                --password-file pfx-password.txt
            """)

    @Option(help: ArgumentHelp("The PKCS#12 file to write.", valueName: "file"))
    var pfx: String

    @Option(help: ArgumentHelp("PEM certificate (its chain may follow it in the file).", valueName: "file"))
    var certificate: String

    @Option(help: ArgumentHelp("PEM private key of the certificate.", valueName: "file"))
    var key: String

    @Option(help: ArgumentHelp("Extra PEM chain certificates to include (repeatable).", valueName: "file"))
    var chain: [String] = []

    @Option(help: ArgumentHelp("Read the password from the first line of this file (else: prompt).", valueName: "file"))
    var passwordFile: String?

    @Option(help: ArgumentHelp("The friendly name Windows shows.", valueName: "name"))
    var friendlyName: String?

    @Flag(help: "Replace an existing file instead of refusing.")
    var force = false

    func run() throws {
        let certificateChain = try X509Certificate.chain(pemFile: certificate)
        let certified = try CertifiedKey(chain: certificateChain, key: try PrivateKey(pemFile: key), source: certificate)
        let extra = try chain.flatMap { try X509Certificate.chain(pemFile: $0) }
        let password = try readPassword()
        let bytes = try PKCS12Archive.export(certified, extraChain: extra, password: password, friendlyName: friendlyName)
        try PEMFileWriter.write(bytes: bytes, to: pfx, mode: PEMFileWriter.privateKeyMode, overwrite: force)
        print("Wrote \(pfx) (PKCS#12, AES-256-CBC, SHA-256 MAC, mode 0600)")
        print("  Subject:     \(certified.leaf.subjectLine)")
        print("  Thumbprint:  \(certified.leaf.sha1Thumbprint)")
        print("  Chain:       \(certified.chain.count - 1 + extra.count) more certificate(s)")
        print(
            "  tls-server-end-point (\(certified.leaf.tlsServerEndPointDigestName)): \(certified.leaf.tlsServerEndPointHex)")
    }

    /// The password: the first line of --password-file, or typed twice without echo.
    private func readPassword() throws -> String {
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                throw CertCLIError("--password-file \(passwordFile): cannot read it")
            }
            let text = String(decoding: data, as: UTF8.self)
            let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let password = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            guard !password.isEmpty else { throw CertCLIError("--password-file \(passwordFile): the first line is empty") }
            return password
        }
        guard isatty(0) == 1 else {
            throw CertCLIError("no terminal to ask for the password: give --password-file FILE")
        }
        let first = try prompt("PFX password: ")
        let second = try prompt("Repeat the password: ")
        guard first == second else { throw CertCLIError("the two passwords differ") }
        guard !first.isEmpty else { throw CertCLIError("the password is empty") }
        return first
    }

    private func prompt(_ text: String) throws -> String {
        guard let pointer = getpass(text) else { throw CertCLIError("cannot read the password from the terminal") }
        return String(cString: pointer)
    }
}
