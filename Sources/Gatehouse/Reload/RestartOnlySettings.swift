/// The settings a reload cannot apply to a running process, and the warning that names each one
/// that changed. Everything else in the file takes effect on reload.
///
/// - `limits.max_connections` and `limits.max_redirect_connections`: the connection caps count
///   connections across reloads; a new cap would lose count of the open ones.
/// - `admin.address`: the admin endpoint is the channel reloads are requested on.
/// - `access_log`: the writer thread and its file are set up once (SIGUSR1 reopens the file).
enum RestartOnlySettings {
    /// One warning per restart-only key whose value differs between `old` and `new`.
    static func changes(from old: GatehouseConfiguration, to new: GatehouseConfiguration) -> [String] {
        var warnings: [String] = []
        func check<T: Equatable>(_ key: String, _ before: T, _ after: T, _ show: (T) -> String) {
            guard before != after else { return }
            warnings.append(
                "\(new.sourcePath): \(key) changed from \(show(before)) to \(show(after)); "
                    + "it takes effect only after a restart (the running process keeps \(show(before)))")
        }
        check("limits.max_connections", old.limits.maxConnections, new.limits.maxConnections) { "\($0)" }
        check(
            "limits.max_redirect_connections", old.limits.maxRedirectConnections,
            new.limits.maxRedirectConnections
        ) { "\($0)" }
        check("admin.address", old.admin?.address, new.admin?.address) { $0.map { "\($0)" } ?? "none" }
        check("access_log", old.accessLog, new.accessLog) { "\($0.format.rawValue) to \($0.path ?? "stdout")" }
        return warnings
    }
}
