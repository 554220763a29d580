import ArgumentParser
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

            on standard error; warnings use the same form. On success prints the listeners, host \
            names, routes (with the timeouts, body limits and compression each Exchange preset brings) \
            and pools. Exits with status 1 if there is any error, 0 otherwise (warnings included).

            Examples:
              gatehouse check --config conf/gatehouse.yaml
              gatehouse check --quiet --config new.yaml && echo valid
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .shortAndLong, help: "Print nothing on success (errors and warnings still go to standard error).")
    var quiet = false

    func run() throws {
        let (configuration, warnings) = try options.load()
        guard !quiet else { return }
        print(ConfigurationSummary(configuration: configuration, displayPath: options.path, warnings: warnings).text)
    }
}
