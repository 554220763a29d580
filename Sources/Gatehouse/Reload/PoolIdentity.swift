import Foundation

/// Everything a backend pool is built from: its configuration, the health paths of the routes it
/// serves, and the bytes of its trust files. A reload that finds a pool's identity unchanged
/// reuses the running pool object whole (its idle and pinned NTLM connections, passive ejection,
/// counters); any difference, including a trusted certificate replaced under the same file name,
/// builds a new one.
struct PoolIdentity: Hashable, Sendable {
    var configuration: PoolConfiguration
    var healthPaths: [String]
    /// The trust files' contents, in configuration order (the CA bundle last); nil for a file
    /// that cannot be read (the pool build reports it).
    var trustFiles: [Data?]

    init(configuration: PoolConfiguration, healthPaths: [String]) {
        self.configuration = configuration
        self.healthPaths = healthPaths
        let paths = configuration.trust.certificates + (configuration.trust.caBundle.map { [$0] } ?? [])
        self.trustFiles = paths.map { FileManager.default.contents(atPath: $0) }
    }
}
