import ArgumentParser
import Foundation
import Gatehouse
import Yams

/// `gatehouse reload`: asks a running Gatehouse to reload its configuration, through the admin
/// endpoint (which answers with the outcome) or by SIGHUP to the pid in a pid file.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make a running Gatehouse reload its configuration.",
        discussion: """
            With --config, posts /reload to the admin endpoint the file configures (admin.address) \
            and prints the outcome: the errors, exactly as 'gatehouse check' prints them, when the \
            new configuration is refused (the running one stays; exit status 1), else what changed. \
            With --admin HOST:PORT, the same at that address. With --pid-file, sends SIGHUP to the \
            process whose id the file holds ('gatehouse run --pid-file' writes it); the outcome is \
            then only in Gatehouse's log.

            Examples:
              gatehouse reload --config conf/gatehouse.yaml
              gatehouse reload --pid-file /run/gatehouse.pid
            """)

    @Option(
        name: [.customLong("config"), .customShort("c")],
        help: ArgumentHelp("Reload through the admin endpoint this configuration names.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Reload through the admin endpoint at this address.", valueName: "host:port"))
    var admin: String?

    @Option(help: ArgumentHelp("Send SIGHUP to the process id in this file.", valueName: "file"))
    var pidFile: String?

    func validate() throws {
        let given = [config, admin, pidFile].compactMap { $0 }.count
        guard given == 1 else {
            throw ValidationError("give exactly one of --config, --admin or --pid-file")
        }
    }

    func run() async throws {
        if let pidFile {
            try signal(pidFile: pidFile)
            return
        }
        let endpoint = try adminEndpoint()
        let answer: AdminReloadClient.Answer
        do {
            answer = try await AdminReloadClient.post(host: endpoint.host, port: endpoint.port)
        } catch {
            StandardError.print("reload: cannot reach the admin endpoint at \(endpoint.host):\(endpoint.port): \(error)")
            throw ExitCode(1)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
            let applied = object["applied"] as? Bool
        else {
            StandardError.print("reload: unexpected answer (HTTP \(answer.status)): \(answer.body)")
            throw ExitCode(1)
        }
        for warning in object["warnings"] as? [String] ?? [] { StandardError.print(warning) }
        for error in object["errors"] as? [String] ?? [] { StandardError.print(error) }
        guard applied else {
            StandardError.print("reload refused; the running configuration is unchanged")
            throw ExitCode(1)
        }
        let bound = object["listeners_bound"] as? [String] ?? []
        let closed = object["listeners_closed"] as? [String] ?? []
        print(
            "reloaded" + (bound.isEmpty ? "" : "; listeners bound: \(bound.joined(separator: ", "))")
                + (closed.isEmpty ? "" : "; listeners closed (draining): \(closed.joined(separator: ", "))"))
    }

    /// The admin address from --admin, or the configuration's `admin.address`. Only that key is
    /// read here: validating the rest is the running server's job (it answers with the errors and
    /// logs them), so a broken edit still reaches it.
    private func adminEndpoint() throws -> (host: String, port: Int) {
        if let admin { return try Self.endpoint(admin, what: "--admin") }
        let path = config ?? ""
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            StandardError.print("reload: cannot read \(path)")
            throw ExitCode(1)
        }
        let root = (try? Yams.load(yaml: text)) as? [String: Any]
        guard let address = (root?["admin"] as? [String: Any])?["address"] as? String else {
            StandardError.print(
                "reload: \(path) configures no admin endpoint (admin.address) that can be read; "
                    + "use --admin HOST:PORT or --pid-file")
            throw ExitCode(1)
        }
        return try Self.endpoint(address, what: "\(path): admin.address")
    }

    /// `host:port` (`[::1]:9090` for IPv6).
    private static func endpoint(_ text: String, what: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            throw ValidationError("\(what) takes host:port, e.g. 127.0.0.1:9090, not '\(text)'")
        }
        let host = text[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return (host, port)
    }

    /// Sends SIGHUP to the pid the file holds.
    private func signal(pidFile: String) throws {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
        else {
            StandardError.print("reload: \(pidFile) holds no process id (is Gatehouse running with --pid-file?)")
            throw ExitCode(1)
        }
        guard kill(pid, SIGHUP) == 0 else {
            StandardError.print("reload: cannot signal process \(pid): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        print("sent SIGHUP to process \(pid); see its log for the outcome")
    }
}
