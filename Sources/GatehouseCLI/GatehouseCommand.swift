import ArgumentParser

/// Placeholder root command on the `cert` branch so `gatehouse cert ...` can be built and tested;
/// the integrator replaces it with the real root command (which lists `CertCommand`).
@main
struct GatehouseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "HTTPS front-end proxy for Exchange-style services.",
        subcommands: [CertCommand.self])
}
