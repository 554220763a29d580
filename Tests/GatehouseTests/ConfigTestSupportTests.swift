// Shared helpers for the Config*, Exchange* and CLI* suites (named to match the files this
// engineer owns; it holds no tests of its own).
import Foundation
import Testing

@testable import Gatehouse

/// A throw-away folder with a configuration file and the certificate/key files it names.
///
/// The configuration layer only checks that such files exist and are readable, so the files here
/// are placeholders; `CLITests` generates real ones with openssl where the binary needs them.
struct ConfigFixture {
    /// The temporary root folder (removed by `remove()`).
    let root: URL

    /// A new fixture with `conf/` and `certs/` folders and placeholder certificate and key files.
    init(files: [String] = ["mail.pem", "mail.key", "rsa.pem", "rsa.key", "mbx01.pem", "mbx02.pem"]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("conf"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("certs"), withIntermediateDirectories: true)
        for file in files {
            try Data("placeholder\n".utf8).write(to: root.appendingPathComponent("certs/\(file)"))
        }
    }

    /// Writes `yaml` to `conf/<name>` and returns its path.
    @discardableResult
    func write(_ yaml: String, name: String = "test.yaml") throws -> String {
        let url = root.appendingPathComponent("conf/\(name)")
        try Data(yaml.utf8).write(to: url)
        return url.path
    }

    /// Loads `yaml` written to `conf/test.yaml`.
    func load(_ yaml: String) throws -> (GatehouseConfiguration, warnings: [ConfigDiagnostic]) {
        try GatehouseConfiguration.load(path: try write(yaml))
    }

    /// The errors loading `yaml` produces (empty if it loads).
    func errors(_ yaml: String) throws -> [ConfigDiagnostic] {
        do {
            _ = try load(yaml)
            return []
        } catch let error as ConfigError {
            return error.diagnostics
        }
    }

    /// The absolute path of a file in the fixture.
    func path(_ relative: String) -> String { root.appendingPathComponent(relative).standardizedFileURL.path }

    /// Deletes the fixture.
    func remove() { try? FileManager.default.removeItem(at: root) }

    /// A small valid configuration (paths relative to conf/), for tests to extend or break.
    static let minimal = """
        listeners:
          - name: https
            address: 127.0.0.1:0
            tls:
              certificates:
                - { cert: ../certs/mail.pem, key: ../certs/mail.key }
        pools:
          mailbox:
            servers:
              - { name: mbx01, address: 127.0.0.1:9444, tls_name: mbx01.contoso.lab }
            trust:
              certificates: [../certs/mbx01.pem]
        services:
          - name: contoso
            hosts: [mail.contoso.lab]
            routes:
              - { preset: owa, pool: mailbox }
        """
}
