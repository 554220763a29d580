import ArgumentParser
import Foundation
import Gatehouse

/// The `--config FILE` option shared by the commands that read a configuration.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: [.customLong("config"), .customShort("c")],
        help: ArgumentHelp("The YAML configuration file.", valueName: "file"))
    var path: String

    /// Loads and validates the configuration, printing warnings to standard error. On errors prints
    /// each as `file:line:col: error: ...` to standard error and exits with status 1.
    func load() throws -> (GatehouseConfiguration, warnings: [ConfigDiagnostic]) {
        try Self.load(path: path)
    }

    /// `load()` for a path that did not come from this option group.
    static func load(path: String) throws -> (GatehouseConfiguration, warnings: [ConfigDiagnostic]) {
        do {
            let (configuration, warnings) = try GatehouseConfiguration.load(path: path)
            for warning in warnings { StandardError.print(warning.description) }
            return (configuration, warnings)
        } catch {
            for diagnostic in error.diagnostics + error.warnings { StandardError.print(diagnostic.description) }
            let count = error.diagnostics.count
            StandardError.print("\(path): \(count) error\(count == 1 ? "" : "s"); the configuration was not loaded")
            throw ExitCode(1)
        }
    }
}

/// Writing to standard error (Swift 6 forbids touching libc's `stderr` global directly).
enum StandardError {
    /// Writes `line` and a newline to standard error.
    static func print(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
