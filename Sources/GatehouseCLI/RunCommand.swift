import ArgumentParser
import Gatehouse

/// `gatehouse run`: validate the configuration, then serve until SIGINT/SIGTERM.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Validate a configuration and start the proxy.",
        discussion: """
            Loads the configuration (exactly as 'gatehouse check' does) and refuses to start if it has \
            any error. Then binds every listener and serves until SIGINT or SIGTERM, finishing requests \
            in flight before it exits.

            Example:
              gatehouse run --config conf/gatehouse.yaml
            """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let (configuration, _) = try options.load()
        try await startProxy(configuration)
    }
}

/// Starts the proxy for `configuration` and returns when it has shut down.
///
/// INTEGRATOR: replace this body with the call that runs `GatehouseServer` for `configuration`.
func startProxy(_ configuration: GatehouseConfiguration) async throws {
    StandardError.print(
        "gatehouse: configuration \(configuration.sourcePath) is valid, but the proxy is not built yet "
            + "on this branch; use 'gatehouse check' to validate configurations")
    throw ExitCode(2)
}
