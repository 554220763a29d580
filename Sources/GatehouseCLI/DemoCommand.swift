import ArgumentParser
import Dispatch
import Foundation
import Gatehouse
import Logging
import NIOCore

/// `gatehouse demo`: the whole demo in one process tree — a `mailbox-sim` for every loopback server
/// of the configuration's pools, then Gatehouse itself — until Ctrl-C or SIGTERM stops all of it.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the demo: simulated mailbox servers behind Gatehouse.",
        discussion: """
            Reads the configuration, starts one `mailbox-sim` (found next to this executable) for each \
            pool server whose address is on 127.0.0.1, using the certificate the pool trusts for it \
            (<dir>/<name>.pem with its key <dir>/<name>.key, as certs-example/ lays them out), then \
            starts Gatehouse with the configuration. It prints one line per component when it is \
            ready and the commands to try. Ctrl-C (SIGINT) or SIGTERM stops everything (Gatehouse             first, gracefully: requests in flight get limits.shutdown_grace to finish). SIGHUP,             'gatehouse reload' or POST /reload on the admin endpoint reloads the configuration.

            The simulated servers require NTLM on /EWS/, /mapi/, /OAB/ and /rpc/ as Exchange does \
            (any password): curl --ntlm -u 'CONTOSO\\alice:x' ...

            With --extended-protection the simulated servers also require Extended Protection (NTLM \
            channel binding) and present the same certificate and key as the front end: the first RSA \
            listener certificate covering the first service host name, which every TLS listener then \
            serves alone and every pool trusts under that name; services become \
            extended_protection: bridged. NTLM through Gatehouse works because both sides' \
            tls-server-end-point hashes agree. Reloads apply the same set-up to the re-read file.

            Example:
              gatehouse demo --config conf/gatehouse.yaml
            """)

    @Option(name: [.customLong("config"), .customShort("c")], help: "The demo configuration.")
    var config: String = "conf/gatehouse.yaml"

    @Flag(help: "Do not require NTLM on the simulated servers' protected paths.")
    var anonymous = false

    @Flag(help: "Simulated servers require Extended Protection and share the front end's certificate.")
    var extendedProtection = false

    @Option(
        help: ArgumentHelp(
            "Write Gatehouse's process id to this file once listening (for 'gatehouse reload --pid-file').",
            valueName: "file"))
    var pidFile: String?

    func run() async throws {
        let (loaded, _) = try ConfigOptions.load(path: config)
        let bridge = try extendedProtection ? DemoExtendedProtection(configuration: loaded) : nil
        let configuration = bridge?.apply(to: loaded) ?? loaded
        if let bridge {
            say("extended protection: front end and servers share \(bridge.shared.certificate), verified as \(bridge.tlsName)")
        }
        let simulator = try DemoProcesses.simulatorPath()
        var children: [DemoProcesses.Child] = []
        let stop = DemoProcesses.SignalWaiter()

        do {
            for (poolName, pool) in loaded.pools.sorted(by: { $0.key < $1.key }) {
                for server in pool.servers where DemoProcesses.isLoopback(server.address.host) {
                    guard
                        let certificate = pool.trust.certificates.first(where: {
                            URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent == server.name
                        })
                    else {
                        StandardError.print(
                            "demo: pool \(poolName) trusts no certificate named \(server.name).pem; cannot start a simulator for it")
                        throw ExitCode(1)
                    }
                    let key = URL(fileURLWithPath: certificate).deletingPathExtension().appendingPathExtension("key").path
                    var arguments = [
                        "--name", server.name, "--fqdn", server.tlsName, "--listen", "\(server.address)",
                        "--cert", bridge?.shared.certificate ?? certificate, "--key", bridge?.shared.key ?? key
                    ]
                    if !anonymous { arguments.append("--require-ntlm") }
                    if bridge != nil { arguments += ["--extended-protection", "require"] }
                    let child = try DemoProcesses.Child(name: server.name, executable: simulator, arguments: arguments)
                    children.append(child)
                    try await child.waitUntilReady(timeout: Duration.seconds(30))
                    say("ready: \(server.name) (mailbox-sim, pid \(child.pid)) on https://\(server.address)")
                }
            }

            let server = try makeServer(configuration, configPath: config, adjust: { bridge?.apply(to: $0) ?? $0 })
            let hangups = await server.reloadOnHangup()
            let addresses = try await server.start()
            let pidFile = self.pidFile.map(PIDFile.init)
            pidFile?.write()
            defer { pidFile?.remove() }
            for (listener, address) in zip(configuration.listeners, addresses) {
                let (scheme, note) =
                    listener.tls != nil ? ("https://", "") : listener.passthrough != nil ? ("", ", TLS pass-through") : ("http://", "")
                say("ready: gatehouse listener \(listener.name) on \(scheme)\(listener.address) (\(address.port ?? 0)\(note))")
            }
            printTryCommands(configuration, channelBinding: bridge != nil)
            await stop.wait()
            hangups.cancel()
            say("stopping...")
            await server.stop()
        } catch {
            for child in children { child.terminate() }
            throw error
        }
        for child in children { child.terminate() }
        say("stopped.")
    }

    private func printTryCommands(_ configuration: GatehouseConfiguration, channelBinding: Bool) {
        guard let tls = configuration.listeners.first(where: { $0.tls != nil }),
            let host = configuration.services.first?.hosts.first
        else { return }
        let port = tls.address.port
        let ca = "certs-example/ca.pem"
        let resolve = "--resolve \(host):\(port):\(tls.address.host)"
        // curl's NTLM sends no channel binding, which servers requiring Extended Protection refuse.
        let ntlm =
            channelBinding
            ? "python3 -c 'import requests, requests_ntlm; s = requests.Session(); s.trust_env = False; s.verify = \"\(ca)\"; "
                + "s.auth = requests_ntlm.HttpNtlmAuth(\"CONTOSO\\\\alice\", \"x\"); "
                + "r = s.get(\"https://\(host):\(port)/EWS/exchange.asmx\"); print(r.status_code, r.headers.get(\"X-Sim-User\"))'"
                + "   # needs \(host) -> \(tls.address.host) in /etc/hosts"
            : "curl --cacert \(ca) \(resolve) --http1.1 --ntlm -u 'CONTOSO\\alice:x' 'https://\(host):\(port)/EWS/exchange.asmx?sim-echo=1'"
        say(
            """

            Try (Ctrl-C stops the demo):
              curl --cacert \(ca) \(resolve) https://\(host):\(port)/owa/
              curl --cacert \(ca) \(resolve) https://\(host):\(port)/owa/healthcheck.htm
              curl --cacert \(ca) \(resolve) 'https://\(host):\(port)/autodiscover/autodiscover.json?Email=alice@contoso.lab&Protocol=EWS'
              \(ntlm)
              curl --cacert \(ca) \(resolve) 'https://\(host):\(port)/autodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com'   # ProxyShell: 403
              openssl s_client -connect \(tls.address.host):\(port) -servername \(host) -sigalgs ECDSA+SHA256 </dev/null | grep -E 'subject|Peer signature type'
            """ + passthroughTry(configuration, host: host) + "\n")
    }
}

/// The pass-through listener's line of the demo's "Try" list (empty without one): the certificate a
/// client sees there is the mailbox server's own.
private func passthroughTry(_ configuration: GatehouseConfiguration, host: String) -> String {
    guard let listener = configuration.listeners.first(where: { $0.passthrough != nil }) else { return "" }
    return "\n  openssl s_client -connect \(listener.address.host):\(listener.address.port) -servername \(host) </dev/null "
        + "2>/dev/null | grep subject   # pass-through: the mailbox server's own certificate"
}

/// Writes a line to standard output at once (not stdio-buffered), so "ready" lines show up
/// immediately even when the output is piped (`make run | tee demo.log`).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
