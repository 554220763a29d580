import ArgumentParser
import Gatehouse

/// The `gatehouse` command: an HTTPS front-end proxy for Exchange-style services.
@main
struct GatehouseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "An HTTPS front-end proxy for Microsoft-Exchange-style services.",
        discussion: """
            Gatehouse terminates TLS (choosing the certificate by SNI), routes Exchange paths \
            (Autodiscover, EWS, ActiveSync, OWA, ECP, MAPI, OAB, RPC) to pools of backend servers, and \
            re-encrypts every request to the backends over TLS.

            Start with the demo configuration:
              gatehouse check --config conf/gatehouse.yaml
              gatehouse run --config conf/gatehouse.yaml
            """,
        version: GatehouseInfo.version,
        subcommands: [
            RunCommand.self,
            CheckCommand.self,
            VersionCommand.self,
            CertCommand.self,
            DemoCommand.self,
            RulesCommand.self,
            ReloadCommand.self
        ]
    )
}
