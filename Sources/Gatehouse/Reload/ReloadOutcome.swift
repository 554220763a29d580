/// The configuration a reload read, or why it was refused: the diagnostics exactly as
/// `gatehouse check` prints them (`file:line:column: error: ...`).
public enum ConfigurationLoad: Sendable {
    case loaded(GatehouseConfiguration, warnings: [String])
    case refused(errors: [String], warnings: [String])

    /// Reads and validates the file at `path` (`GatehouseConfiguration.load`); the CLI adds the
    /// certificate coverage check that `gatehouse check` runs.
    public static func standard(path: String) -> ConfigurationLoad {
        do {
            let (configuration, warnings) = try GatehouseConfiguration.load(path: path)
            return .loaded(configuration, warnings: warnings.map(\.description))
        } catch {
            let count = error.diagnostics.count
            return .refused(
                errors: error.diagnostics.map(\.description)
                    + ["\(path): \(count) error\(count == 1 ? "" : "s"); the configuration was not loaded"],
                warnings: error.warnings.map(\.description))
        }
    }
}

/// How a reads-and-validates step is provided to the server (the CLI passes one that also runs
/// `gatehouse check`'s certificate coverage check).
public typealias ConfigurationSource = @Sendable (_ path: String) -> ConfigurationLoad

/// What one reload did: applied (with what changed) or refused (with every error; nothing changed).
public struct ReloadOutcome: Sendable {
    public var applied: Bool
    /// The errors that refused it, one line each, as `gatehouse check` prints them.
    public var errors: [String]
    public var warnings: [String]
    /// Listeners bound and closed by the reload (names).
    public var listenersBound: [String]
    public var listenersClosed: [String]

    public init(
        applied: Bool, errors: [String] = [], warnings: [String] = [], listenersBound: [String] = [],
        listenersClosed: [String] = []
    ) {
        self.applied = applied
        self.errors = errors
        self.warnings = warnings
        self.listenersBound = listenersBound
        self.listenersClosed = listenersClosed
    }

    /// The admin endpoint's answer.
    var json: String {
        func list(_ items: [String]) -> String { "[" + items.map(AdminState.quote).joined(separator: ",") + "]" }
        return "{\"applied\":\(applied),\"errors\":\(list(errors)),\"warnings\":\(list(warnings)),"
            + "\"listeners_bound\":\(list(listenersBound)),\"listeners_closed\":\(list(listenersClosed))}"
    }
}
