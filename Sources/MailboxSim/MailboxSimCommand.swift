import ArgumentParser
import Dispatch
import Foundation
import GatehouseTLS
import MailboxSimCore

/// `mailbox-sim`: a simulated Exchange mailbox server's back-end site, for demos and tests.
@main
struct MailboxSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailbox-sim",
        abstract: "A simulated Exchange mailbox server back end (TLS HTTP/1.1) for Gatehouse demos and tests.",
        discussion: """
            Answers every Exchange virtual directory, /<vdir>/healthcheck.htm, ActiveSync Ping holds, MAPI
            NotificationWait, RPC_IN_DATA / RPC_OUT_DATA, OAB downloads and NTLM connection authentication.
            Query knobs: sim-echo, sim-bytes=N, sim-hold=S, sim-interval=S, sim-duration=S.
            Maintenance: POST /_sim/offline[?service=ews], POST /_sim/online[?service=ews], GET /_sim/state.
            """)

    @Option(help: "Server name, sent as X-BEServer (e.g. mbx01).")
    var name: String = "mbx01"

    @Option(help: "Fully qualified name, the body of healthcheck.htm (default: <name>.contoso.lab).")
    var fqdn: String?

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:9444"

    @Option(help: "PEM certificate (chain) file for TLS.")
    var cert: String?

    @Option(help: "PEM private key file for TLS.")
    var key: String?

    @Flag(help: "Require NTLM authentication of the connection for /EWS/, /mapi/, /OAB/ and /rpc/.")
    var requireNtlm = false

    @Flag(help: "Serve plain HTTP instead of TLS (no --cert/--key needed).")
    var plain = false

    @Option(help: "Size in bytes of every OAB .lzx file.")
    var oabSize: UInt64 = 16 << 20

    @Option(
        help: ArgumentHelp(
            "Extended Protection (NTLM channel binding) per virtual directory: off, accept or require.",
            discussion: """
                A bare mode sets every service; SERVICE=MODE[,SERVICE=MODE...] overrides services (preset \
                name or virtual directory). Repeatable; later values win. Exchange's defaults: \
                --extended-protection require --extended-protection ews=accept,activesync=accept,autodiscover=off
                """, valueName: "MODE|SERVICE=MODE,..."))
    var extendedProtection: [String] = []

    func validate() throws {
        if !plain, cert == nil || key == nil {
            throw ValidationError("TLS needs --cert FILE and --key FILE (or pass --plain for plain HTTP)")
        }
        _ = try parsedListen()
        let policy = try parsedPolicy()
        if plain, policy.isEnabled {
            throw ValidationError("--extended-protection binds logons to the TLS certificate; it cannot be used with --plain")
        }
    }

    private func parsedPolicy() throws -> ExtendedProtectionPolicy {
        do { return try ExtendedProtectionPolicy.parse(extendedProtection) } catch { throw ValidationError("\(error)") }
    }

    private func parsedListen() throws -> (host: String, port: Int) {
        do { return try ListenAddress.parse(listen) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        let (host, port) = try parsedListen()
        var configuration = SimConfiguration(
            name: name, fqdn: fqdn, host: host, port: port,
            requireNTLM: requireNtlm, oabSize: oabSize, extendedProtection: try parsedPolicy())
        let tls: MailboxSimServer.TLSHandlerFactory?
        do {
            if plain {
                tls = nil
            } else {
                let loaded = try SimTLS.handlerFactory(certificatePath: cert!, keyPath: key!)
                for warning in loaded.warnings {
                    FileHandle.standardError.write(Data("mailbox-sim: warning: \(warning)\n".utf8))
                }
                tls = loaded.factory
                configuration.channelBindingToken = ChannelBindings.ntlmToken(
                    applicationData: loaded.leaf.channelBindingApplicationData)
                if configuration.extendedProtection.isEnabled {
                    FileHandle.standardError.write(
                        Data(
                            ("mailbox-sim \(name): Extended Protection \(configuration.extendedProtection.summary); "
                                + "tls-server-end-point \(loaded.leaf.tlsServerEndPointDigestName) "
                                + "\(loaded.leaf.tlsServerEndPointHex)\n").utf8))
                }
            }
        } catch {
            FileHandle.standardError.write(Data("mailbox-sim: \(error)\n".utf8))
            throw ExitCode(1)
        }
        // Catch the signals before announcing readiness, so a SIGTERM sent right after the ready
        // line still ends in a clean exit.
        let termination = TerminationSignals()
        let server: MailboxSimServer
        do {
            server = try await MailboxSimServer.start(configuration: configuration, tls: tls)
        } catch {
            FileHandle.standardError.write(Data("mailbox-sim: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(server.readyLine)
        // stdout is a pipe when a test or script starts us: push the ready line out now.
        fflush(nil)
        await termination.wait()
        await server.close()
    }
}

/// SIGINT and SIGTERM as an awaitable event: the default actions are replaced by dispatch sources.
final class TerminationSignals: Sendable {
    private let stream: AsyncStream<Int32>
    /// Kept so the sources stay alive (and installed) for the life of the process.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]

    init() {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = [SIGINT, SIGTERM].map { number in
            // Ignore the default action (termination) so the dispatch source sees the signal instead.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    /// Suspends until the first SIGINT or SIGTERM.
    func wait() async {
        for await _ in stream { return }
    }
}
