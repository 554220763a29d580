import Foundation
import Yams

/// Where the certificate-related values of a configuration file are written (line and column), so
/// `gatehouse check` can point its coverage problems at `file:line:col`.
///
/// The validated `GatehouseConfiguration` keeps no source positions, so the file is composed again
/// here. It has already been validated, so its shape is known; any position that cannot be found
/// is simply nil and the diagnostic names the listener, pool or host instead.
struct CoverageLocations {
    /// A 1-based line and column.
    struct Position: Hashable {
        var line: Int
        var column: Int
    }

    private let root: Node?

    /// Composes `yaml` (the text of the configuration file); an unreadable text gives no positions.
    init(yaml: String) {
        root = try? Yams.compose(yaml: yaml)
    }

    /// Reads and composes the configuration file at `path`.
    init(path: String) {
        self.init(yaml: (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    /// The `cert:` (or `key:` when `key` is true) value of certificate entry `entry` of the
    /// `index`-th listener's `tls:` block.
    func certificateEntry(listener index: Int, entry: Int, key: Bool = false) -> Position? {
        let node = root?["listeners"]?.sequence.flatMap { index < $0.count ? $0[index] : nil }
        let certificates = node?["tls"]?["certificates"]?.sequence
        guard let certificates, entry < certificates.count else { return nil }
        let item = certificates[entry]
        return position(item[key ? "key" : "cert"] ?? item)
    }

    /// The listener itself (its mapping), for problems that concern the whole listener.
    func listener(_ index: Int) -> Position? {
        position(root?["listeners"]?.sequence.flatMap { index < $0.count ? $0[index] : nil })
    }

    /// The entry of `host` (compared without case or trailing dot) in the `index`-th service's `hosts:`.
    func host(_ host: String, service index: Int) -> Position? {
        let service = root?["services"]?.sequence.flatMap { index < $0.count ? $0[index] : nil }
        let wanted = Self.normalisedHost(host)
        let entry = service?["hosts"]?.sequence?.first { $0.string.map(Self.normalisedHost) == wanted }
        return position(entry ?? service)
    }

    /// The value of `key` in the `index`-th service (the service itself when the key is not written).
    func serviceKey(_ key: String, service index: Int) -> Position? {
        let service = root?["services"]?.sequence.flatMap { index < $0.count ? $0[index] : nil }
        return position(service?[key] ?? service)
    }

    /// The `tls_name:` of server `name` in pool `pool` (the server entry when `tls_name` is not written).
    func serverTLSName(pool: String, server name: String) -> Position? {
        let servers = root?["pools"]?[pool]?["servers"]?.sequence
        let server = servers?.first { $0["name"]?.string == name }
        return position(server?["tls_name"] ?? server ?? root?["pools"]?[pool])
    }

    /// The entry naming `absolutePath` among pool `pool`'s `trust.certificates` (or its `ca_bundle`).
    func trustedCertificate(pool: String, absolutePath: String, relativeTo base: String) -> Position? {
        let trust = root?["pools"]?[pool]?["trust"]
        let entries = (trust?["certificates"]?.sequence.map(Array.init) ?? []) + [trust?["ca_bundle"]].compactMap { $0 }
        let entry = entries.first { $0.string.map { Self.absolute($0, relativeTo: base) } == absolutePath }
        return position(entry ?? trust)
    }

    private func position(_ node: Node?) -> Position? {
        node?.mark.map { Position(line: $0.line, column: $0.column) }
    }

    /// A path from the file made absolute against the configuration file's folder (as the validator does).
    static func absolute(_ path: String, relativeTo base: String) -> String {
        let url =
            path.hasPrefix("/")
            ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: base, isDirectory: true))
        return url.standardizedFileURL.path
    }

    /// Lower case without a trailing dot.
    static func normalisedHost(_ host: String) -> String {
        var text = host.lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
