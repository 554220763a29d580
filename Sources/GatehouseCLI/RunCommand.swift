import ArgumentParser
import Gatehouse
import Logging

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

/// Starts the proxy for `configuration` and returns when it has shut down (SIGINT/SIGTERM).
func startProxy(_ configuration: GatehouseConfiguration) async throws {
    try await makeServer(configuration).runUntilSignalled()
}

/// Builds the server (loading every certificate and trust anchor); on problems prints each one and
/// exits with status 1, as configuration errors do. Once per process (it bootstraps swift-metrics).
func makeServer(_ configuration: GatehouseConfiguration) throws -> GatehouseServer {
    var logger = Logger(label: "gatehouse")
    logger.logLevel = .info
    do {
        let server = try GatehouseServer(configuration: configuration, logger: logger)
        // Anything that reports through swift-metrics lands in the registry `/metrics` serves.
        server.metrics.bootstrapMetricsSystem()
        return server
    } catch let error as RuntimeBuildError {
        StandardError.print(error.description)
        throw ExitCode(1)
    }
}
