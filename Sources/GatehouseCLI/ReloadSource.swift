import Foundation
import Gatehouse

/// The configuration source the CLI hands the server for reloads: exactly `gatehouse check`'s
/// validation (the file, then certificate coverage), with the same lines it prints.
enum ReloadSource {
    /// - Parameter adjust: applied to the file's configuration before the certificate check (the
    ///   demo's `--extended-protection` set-up, which must survive reloads).
    static func load(
        path: String, adjust: (GatehouseConfiguration) -> GatehouseConfiguration = { $0 }
    ) -> ConfigurationLoad {
        let first = ConfigurationLoad.standard(path: path)
        guard case .loaded(let loaded, let warnings) = first else { return first }
        let configuration = adjust(loaded)
        let coverage = CoverageCheck(
            configuration: configuration, displayPath: path, locations: CoverageLocations(path: path), now: Date()
        ).run()
        let coverageWarnings = coverage.diagnostics.filter { $0.severity != .error }.map(\.description)
        let errors = coverage.errors.count
        guard errors == 0 else {
            return .refused(
                errors: coverage.errors.map(\.description)
                    + ["\(path): \(errors) error\(errors == 1 ? "" : "s") in the certificates"],
                warnings: warnings + coverageWarnings)
        }
        return .loaded(configuration, warnings: warnings + coverageWarnings)
    }
}

/// The `--pid-file FILE` option of `run` and `demo`: the process id, written once every listener
/// is bound (so `gatehouse reload --pid-file FILE` never signals a process that cannot take it
/// yet) and removed at exit.
struct PIDFile: Sendable {
    let path: String

    func write() {
        let text = "\(ProcessInfo.processInfo.processIdentifier)\n"
        if !FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) {
            StandardError.print("warning: cannot write the pid file \(path)")
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
