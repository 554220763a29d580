import ArgumentParser
import Foundation
import Gatehouse

/// `gatehouse check`: validate a configuration and summarise what it would serve.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file and print a summary.",
        discussion: """
            Reads the YAML configuration, applies the defaults, and checks every key, value, reference \
            and file (certificates, keys and trusted backend certificates must exist and be readable). \
            All problems are reported at once, one per line, as

              file:line:column: error: what is wrong (how to fix it)

            on standard error; warnings use the same form. Then loads every certificate and key and \
            reports, for every host name on every TLS listener, the certificate the SNI selection \
            would serve (exact name or wildcard; ECDSA and RSA): a name only the default certificate \
            would answer (and which it does not cover), an expired or not yet valid certificate, or a \
            key that does not match its certificate is an error; a certificate ending within 30 days \
            or a key file others can read is a warning. A backend server whose tls_name no trusted \
            certificate covers is an error. Each problem is reported once.

            Extended Protection: for every service whose extended_protection is not off, the \
            certificate served for each host name (ECDSA and RSA) is compared with the certificate of \
            each server behind its NTLM/Negotiate routes (all routes except OWA, ECP and blocked ones): \
            the trusted certificate covering the server's tls_name, or with --probe the certificate the \
            server presents over a live TLS connection. Their RFC 5929 tls-server-end-point hashes \
            (the channel binding Windows clients send) must be equal, or logons loop on 401. A \
            mismatch is a warning, and an error under extended_protection: bridged.

            Unless --quiet, prints the listeners, host names, certificate coverage, routes (with the \
            timeouts, body limits and compression each Exchange preset brings) and pools. Exits with \
            status 1 if there is any error, 0 otherwise (warnings included).

            Examples:
              gatehouse check --config conf/gatehouse.yaml
              gatehouse check --quiet --config new.yaml && echo valid
              gatehouse check --probe --config conf/gatehouse.yaml
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .shortAndLong, help: "Print nothing on success (errors and warnings still go to standard error).")
    var quiet = false

    @Flag(help: "Fetch each backend's certificate over TLS for the Extended Protection comparison (default: the trusted ones).")
    var probe = false

    func run() throws {
        let (configuration, warnings) = try options.load()
        let now = Date()
        let coverage = CoverageCheck(
            configuration: configuration, displayPath: options.path, locations: CoverageLocations(path: options.path),
            now: now, probe: probe
        ).run()
        for diagnostic in coverage.diagnostics { StandardError.print(diagnostic.description) }
        if !quiet {
            print(
                ConfigurationSummary(
                    configuration: configuration, displayPath: options.path, warnings: warnings, coverage: coverage, now: now
                ).text)
        }
        let errors = coverage.errors.count
        guard errors == 0 else {
            StandardError.print("\(options.path): \(errors) error\(errors == 1 ? "" : "s") in the certificates")
            throw ExitCode(1)
        }
    }
}
