import Foundation
import Testing

/// The `gatehouse` executable, run as a user would: exit codes, stdout summary, stderr diagnostics.
@Suite struct CLITests {
    /// The package root (this file is Tests/GatehouseTests/CLITests.swift).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The demo PKI files the shipped configurations name, relative to certs-example/.
    static let demoFiles = [
        "mail-ecdsa", "mail-rsa", "wildcard", "mbx01", "mbx02", "contoso-com-rsa", "contoso-com-ecdsa", "exch01", "exch02"
    ].flatMap { ["\($0).pem", "\($0).key"] }

    /// The built `gatehouse` binary: next to the test bundle (same build folder), else .build/debug.
    static func binary() throws -> URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gatehouse"),
            repositoryRoot.appendingPathComponent(".build/debug/gatehouse")
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw CLITestError("the gatehouse binary is not built (run 'swift build'); looked at \(candidates.map(\.path))")
        }
        return found
    }

    /// What a finished process left behind.
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `executable` with `arguments` in `directory`, killing it after `timeout` seconds.
    static func run(_ executable: URL, _ arguments: [String], in directory: URL, timeout: Double = 60) async throws -> Outcome {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Output goes to files, not pipes, so a chatty process can never block on a full pipe.
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw CLITestError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus, stdout: try String(contentsOf: outURL, encoding: .utf8),
            stderr: try String(contentsOf: errURL, encoding: .utf8))
    }

    /// A folder laid out like the repository (conf/ next to certs-example/) in which the shipped
    /// configurations can be checked: the repository itself when `make certs` has generated the demo
    /// PKI, otherwise a temporary copy with throw-away certificates made by openssl.
    static func shippedLayout() async throws -> (root: URL, temporary: Bool) {
        let certs = repositoryRoot.appendingPathComponent("certs-example")
        if demoFiles.allSatisfy({ FileManager.default.isReadableFile(atPath: certs.appendingPathComponent($0).path) }) {
            return (repositoryRoot, false)
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-layout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("conf"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("certs-example"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("conf/screening"), withIntermediateDirectories: true)
        // The demo loads the Microsoft mitigations pack (conf/screening/), relative to its own folder.
        for name in ["gatehouse.yaml", "exchange-example.yaml", "screening/exchange-mitigations.yaml"] {
            try FileManager.default.copyItem(
                at: repositoryRoot.appendingPathComponent("conf/\(name)"), to: root.appendingPathComponent("conf/\(name)"))
        }
        let openssl = URL(fileURLWithPath: "/usr/bin/openssl")
        // The names make-demo-pki.sh gives them: `check` verifies that they cover the configured names.
        let names = [
            "mail-ecdsa": "DNS:mail.contoso.lab,DNS:autodiscover.contoso.lab",
            "mail-rsa": "DNS:mail.contoso.lab,DNS:autodiscover.contoso.lab",
            "wildcard": "DNS:*.contoso.lab", "mbx01": "DNS:mbx01.contoso.lab", "mbx02": "DNS:mbx02.contoso.lab",
            "contoso-com-rsa": "DNS:mail.contoso.com,DNS:autodiscover.contoso.com",
            "contoso-com-ecdsa": "DNS:mail.contoso.com,DNS:autodiscover.contoso.com",
            "exch01": "DNS:exch01.contoso.local", "exch02": "DNS:exch02.contoso.local"
        ]
        for name in Set(demoFiles.map { String($0.split(separator: ".")[0]) }).sorted() {
            let result = try await run(
                openssl,
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "365",
                    "-subj", "/CN=\(name).contoso.lab", "-addext", "subjectAltName=\(names[name] ?? "DNS:\(name).contoso.lab")",
                    "-keyout", "certs-example/\(name).key", "-out", "certs-example/\(name).pem"
                ],
                in: root, timeout: 30)
            guard result.status == 0 else { throw CLITestError("openssl failed for \(name): \(result.stderr)") }
        }
        return (root, true)
    }

    @Test(arguments: ["conf/gatehouse.yaml", "conf/exchange-example.yaml"])
    func shippedConfigurationsPassCheck(config: String) async throws {
        let layout = try await Self.shippedLayout()
        defer { if layout.temporary { try? FileManager.default.removeItem(at: layout.root) } }
        let outcome = try await Self.run(try Self.binary(), ["check", "--config", config], in: layout.root)
        // Both pass: the demo PKI includes stand-ins for the example's contoso.com and EXCH0n names.
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("error:"), "\(outcome.stderr)")
        #expect(outcome.stdout.hasPrefix("\(config): OK"))
        #expect(outcome.stdout.contains("coverage"))
        for expected in ["listeners:", "names:", "routes:", "pools:", "/Microsoft-Server-ActiveSync", "/powershell", "blocked"] {
            #expect(outcome.stdout.contains(expected), "\(expected)")
        }
        if config == "conf/gatehouse.yaml" {
            #expect(outcome.stdout.contains("exchange-mitigations 2022.11: 3 rules"))
            #expect(outcome.stdout.contains("127.0.0.1:8443"))
            #expect(outcome.stdout.contains("mail.contoso.lab"))
            #expect(outcome.stdout.contains("mbx02  127.0.0.1:9445"))
        }
    }

    @Test func typoedKeyExitsNonZeroNamingFileLineAndKey() async throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let path = try fixture.write(
            ConfigFixture.minimal.replacingOccurrences(of: "    address: 127.0.0.1:0", with: "    address: 127.0.0.1:0\n    adress: x"),
            name: "typo.yaml")
        for command in ["check", "run"] {
            let outcome = try await Self.run(try Self.binary(), [command, "--config", "conf/typo.yaml"], in: fixture.root)
            #expect(outcome.status == 1, "\(command)")
            #expect(
                outcome.stderr.contains("conf/typo.yaml:4:5: error: unknown key 'adress' in listener 'https' (did you mean 'address'?)"),
                "\(command): \(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
        }
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func missingConfigurationFileExitsWithOne() async throws {
        let outcome = try await Self.run(try Self.binary(), ["check", "--config", "does-not-exist.yaml"], in: Self.repositoryRoot)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("does-not-exist.yaml: error: cannot read the configuration file"))
    }

    @Test func versionNamesTheCLibraries() async throws {
        let outcome = try await Self.run(try Self.binary(), ["version"], in: Self.repositoryRoot)
        #expect(outcome.status == 0)
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("gatehouse ") == true)
        #expect(lines.contains { $0.hasPrefix("openssl") && $0.contains("OpenSSL 3.") })
        #expect(lines.contains { $0.hasPrefix("nghttp2") && $0.contains("1.") })
        #expect(lines.contains { $0.hasPrefix("zlib") && $0.contains("1.") })
    }

    @Test func helpExplainsEachCommand() async throws {
        let binary = try Self.binary()
        let root = try await Self.run(binary, ["--help"], in: Self.repositoryRoot)
        #expect(root.status == 0)
        for subcommand in ["run", "check", "version"] { #expect(root.stdout.contains(subcommand)) }
        let check = try await Self.run(binary, ["check", "--help"], in: Self.repositoryRoot)
        #expect(check.stdout.contains("--config"))
        #expect(check.stdout.contains("file:line:column"))
        #expect(check.stdout.contains("Example"))
        let run = try await Self.run(binary, ["run", "--help"], in: Self.repositoryRoot)
        #expect(run.stdout.contains("--config") && run.stdout.contains("Example"))
        // --config is required: a clear usage error, non-zero.
        let missing = try await Self.run(binary, ["check"], in: Self.repositoryRoot)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("--config"))
    }
}

/// A CLI test set-up failure with its reason.
struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
