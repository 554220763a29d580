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

            Unless --quiet, prints the listeners, host names, certificate coverage, routes (with the \
            timeouts, body limits and compression each Exchange preset brings) and pools. Exits with \
            status 1 if there is any error, 0 otherwise (warnings included).

            Examples:
              gatehouse check --config conf/gatehouse.yaml
              gatehouse check --quiet --config new.yaml && echo valid
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .shortAndLong, help: "Print nothing on success (errors and warnings still go to standard error).")
    var quiet = false

    func run() throws {
        let (configuration, warnings) = try options.load()
        let now = Date()
        let coverage = CoverageCheck(
            configuration: configuration, displayPath: options.path, locations: CoverageLocations(path: options.path),
            now: now
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
