import ArgumentParser

/// `gatehouse cert`: make and inspect certificates the way Exchange admins do with
/// New-ExchangeCertificate and Get-ExchangeCertificate, on OpenSSL through GatehouseTLS.
struct CertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Create, request and list TLS certificates.",
        discussion: """
            Keys are written unencrypted with mode 0600 (never readable by others, not even while \
            being written); existing files are never overwritten unless --force is given.
            Errors name the file or flag at fault and exit non-zero.
            """,
        subcommands: [
            CertNewSelfSignedCommand.self,
            CertIssueCommand.self,
            CertRequestCommand.self,
            CertListCommand.self,
            CertTicketKeyCommand.self
        ])
}
