import ArgumentParser
import Gatehouse
import Logging

/// `gatehouse run`: validate the configuration, then serve until SIGINT/SIGTERM; SIGHUP reloads.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Validate a configuration and start the proxy.",
        discussion: """
            Loads the configuration (exactly as 'gatehouse check' does) and refuses to start if it has \
            any error. Then binds every listener and serves until SIGINT or SIGTERM: it stops accepting, \
            sends GOAWAY on HTTP/2 connections and 'Connection: close' on the next HTTP/1.1 response, \
            and waits up to limits.shutdown_grace (default 30s) for requests in flight before it exits.

            SIGHUP (or 'gatehouse reload', or POST /reload on the admin endpoint) re-reads the \
            configuration and certificates: if the new file passes every check of 'gatehouse check' \
            it serves new connections and requests without dropping any; otherwise the errors are \
            logged and the running configuration stays.

            Example:
              gatehouse run --config conf/gatehouse.yaml --pid-file /run/gatehouse.pid
            """)

    @OptionGroup var options: ConfigOptions

    @Option(
        help: ArgumentHelp(
            "Write the process id to this file once listening (for 'gatehouse reload --pid-file').",
            valueName: "file"))
    var pidFile: String?

    func run() async throws {
        let (configuration, _) = try options.load()
        let pidFile = self.pidFile.map(PIDFile.init)
        let server = try makeServer(configuration, configPath: options.path)
        defer { pidFile?.remove() }
        try await server.runUntilSignalled(started: { pidFile?.write() })
    }
}

/// Builds the server (loading every certificate and trust anchor); on problems prints each one and
/// exits with status 1, as configuration errors do. Reloads re-read `configPath` (as typed, so
/// their errors name the file as `gatehouse check` does). Once per process (it bootstraps swift-metrics).
func makeServer(
    _ configuration: GatehouseConfiguration, configPath: String,
    adjust: @escaping @Sendable (GatehouseConfiguration) -> GatehouseConfiguration = { $0 }
) throws -> GatehouseServer {
    var logger = Logger(label: "gatehouse")
    logger.logLevel = .info
    let metrics = GatehouseMetrics()  // one latency shard per event loop, as many as the server has
    do {
        let server = try GatehouseServer(
            configuration: configuration, logger: logger, metrics: metrics,
            source: { _ in ReloadSource.load(path: configPath, adjust: adjust) },
            onReload: { applied in metrics.recordConfigReload(applied ? .success : .failure) })
        // Anything that reports through swift-metrics lands in the registry `/metrics` serves.
        server.metrics.bootstrapMetricsSystem()
        return server
    } catch let error as RuntimeBuildError {
        StandardError.print(error.description)
        throw ExitCode(1)
    }
}
