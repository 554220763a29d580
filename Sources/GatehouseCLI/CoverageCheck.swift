import Foundation
import Gatehouse
import GatehouseTLS

/// The certificate half of `gatehouse check`: loads every listener certificate and key and every
/// trusted backend certificate, asks a real `CertificateStore` which certificate it would serve for
/// each host name (exact, wildcard, or the default), and reports uncovered names, expired or soon
/// expiring certificates, keys that do not match or that others can read, and backend TLS names
/// no trusted certificate covers. Each problem is reported once.
struct CoverageCheck {
    let configuration: GatehouseConfiguration
    /// The configuration path as the user typed it (diagnostics name it).
    let displayPath: String
    let locations: CoverageLocations
    /// The moment validity is judged at.
    var now = Date()
    /// Whether to fetch each backend's certificate over a live TLS connection (`--probe`) instead of
    /// taking it from the pool's trust list.
    var probe = false

    /// Certificates ending within this window are warned about.
    static let warningWindow: TimeInterval = 30 * 86_400

    /// The folder of the configuration file (relative paths in it are relative to this).
    var baseDirectory: String { (configuration.sourcePath as NSString).deletingLastPathComponent }

    /// Runs every check.
    func run() -> CoverageReport {
        var state = State()
        var uncovered: [(host: String, service: Int, listeners: [String], detail: String)] = []
        var stores: [ListenerStore] = []
        for (index, listener) in configuration.listeners.enumerated() {
            guard let tls = listener.tls else { continue }
            let loaded = loadCertificates(of: listener, index: index, tls: tls, state: &state)
            let store = makeStore(loaded, tls: tls)
            stores.append(ListenerStore(listener: listener.name, store: store, loaded: loaded))
            for (serviceIndex, service) in configuration.services.enumerated() {
                for host in service.hosts {
                    let row = coverage(of: host, listener: listener.name, store: store, loaded: loaded)
                    state.report.hostRows.append(row.row)
                    guard let detail = row.uncoveredDetail else { continue }
                    if let existing = uncovered.firstIndex(where: { $0.host == host }) {
                        uncovered[existing].listeners.append(listener.name)
                    } else {
                        uncovered.append((host, serviceIndex, [listener.name], detail))
                    }
                }
            }
        }
        for entry in uncovered {
            reportUncovered(
                entry.host, service: configuration.services[entry.service], serviceIndex: entry.service,
                listeners: entry.listeners, detail: entry.detail, state: &state)
        }
        checkBackendNames(state: &state)
        checkExtendedProtection(stores: stores, state: &state)
        state.report.diagnostics.sort { lhs, rhs in
            // Problems without a line (none known) go last; otherwise file order.
            (lhs.line == 0 ? Int.max : lhs.line, lhs.column) < (rhs.line == 0 ? Int.max : rhs.line, rhs.column)
        }
        return state.report
    }

    /// What the checks accumulate: the report, and which problems have been reported already.
    struct State {
        var report = CoverageReport()
        var reported = Set<String>()
        /// Parsed certificate files by absolute path (nil: unreadable, already reported).
        var chains: [String: [X509Certificate]?] = [:]

        /// Adds `diagnostic` unless a problem with the same `key` was reported before.
        mutating func report(_ key: String, _ diagnostic: ConfigDiagnostic) {
            if reported.insert(key).inserted { report.diagnostics.append(diagnostic) }
        }
    }

    /// A TLS listener's certificate selection, kept for the Extended Protection comparison.
    struct ListenerStore {
        var listener: String
        var store: CertificateStore?
        var loaded: [LoadedPair]
    }

    /// One listener certificate entry: its files and, when usable, the loaded pair.
    struct LoadedPair {
        var pair: CertificateKeyPair
        var leaf: X509Certificate?
        var certified: CertifiedKey?
    }

    // MARK: Listener certificates

    /// Loads each `cert`/`key` pair of a listener, reporting unreadable files, mismatched keys,
    /// validity problems and key file permissions (each file once, however many listeners use it).
    private func loadCertificates(
        of listener: ListenerConfiguration, index: Int, tls: TLSListenerConfiguration,
        state: inout State
    ) -> [LoadedPair] {
        tls.certificates.enumerated().map { entry, pair in
            let certPosition = locations.certificateEntry(listener: index, entry: entry)
            let keyPosition = locations.certificateEntry(listener: index, entry: entry, key: true)
            var loaded = LoadedPair(pair: pair)
            guard let chain = chain(pair.certificate, at: certPosition, what: "certificate", state: &state) else { return loaded }
            loaded.leaf = chain[0]
            checkValidity(chain[0], file: pair.certificate, at: certPosition, listener: listener.name, state: &state)
            checkKeyPermissions(pair.key, at: keyPosition, state: &state)
            let key: PrivateKey
            do {
                key = try PrivateKey(pemFile: pair.key)
            } catch {
                state.report(
                    "key:\(pair.key)",
                    diagnostic(
                        at: keyPosition, "cannot use private key '\(display(pair.key))' of listener '\(listener.name)': \(reason(error))",
                        hint: "give the PEM private key of \(display(pair.certificate))"))
                return loaded
            }
            do {
                loaded.certified = try CertifiedKey(chain: chain, key: key, source: display(pair.certificate))
            } catch {
                state.report(
                    "pair:\(pair.certificate)|\(pair.key)",
                    diagnostic(
                        at: keyPosition,
                        "the private key '\(display(pair.key))' does not match certificate '\(display(pair.certificate))' "
                            + "(\(chain[0].subjectLine)) of listener '\(listener.name)'",
                        hint: "pair each certificate with the key it was issued for; compare "
                            + "`openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`"))
            }
            return loaded
        }
    }

    /// The certificates in a PEM file (parsed once per run), or nil with the problem reported.
    func chain(
        _ path: String, at position: CoverageLocations.Position?, what: String,
        state: inout State
    ) -> [X509Certificate]? {
        if let cached = state.chains[path] { return cached }
        do {
            let chain = try X509Certificate.chain(pemFile: path)
            state.chains[path] = chain
            return chain
        } catch {
            state.chains[path] = .some(nil)
            state.report(
                "chain:\(path)",
                diagnostic(
                    at: position, "cannot read \(what) '\(display(path))': \(reason(error))",
                    hint: "give a PEM file starting with -----BEGIN CERTIFICATE-----"))
            return nil
        }
    }

    /// Expired or not yet valid: an error; ending within 30 days: a warning. Once per file.
    func checkValidity(
        _ certificate: X509Certificate, file: String, at position: CoverageLocations.Position?,
        listener: String?, state: inout State
    ) {
        let renew =
            listener.map { "gatehouse cert request --config \(displayPath) --listener \($0)" }
            ?? "export the backend's new certificate and list it under the pool's trust"
        let name = "certificate '\(display(file))' (\(certificate.subjectLine))"
        switch certificate.status(at: now, warningWindow: Self.warningWindow) {
        case .valid:
            return
        case .expired:
            state.report(
                "validity:\(file)",
                diagnostic(
                    at: position, "\(name) expired on \(Self.day(certificate.notAfter))",
                    hint: listener == nil ? "renew it on the backend, then \(renew)" : "renew it: \(renew)"))
        case .notYetValid:
            state.report(
                "validity:\(file)",
                diagnostic(
                    at: position, "\(name) is not valid before \(Self.day(certificate.notBefore))",
                    hint: "check this machine's clock, or use a certificate that is valid now"))
        case .expiresSoon:
            state.report(
                "validity:\(file)",
                diagnostic(
                    at: position, severity: .warning,
                    "\(name) expires on \(Self.day(certificate.notAfter)), in \(Self.daysLeft(certificate.notAfter, now: now)) days",
                    hint: listener == nil ? "renew it on the backend, then \(renew)" : "renew it before then: \(renew)"))
        }
    }

    /// A private key that group or others can read: a warning, once per key file.
    private func checkKeyPermissions(_ path: String, at position: CoverageLocations.Position?, state: inout State) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value, mode & 0o044 != 0
        else { return }
        state.report(
            "mode:\(path)",
            diagnostic(
                at: position, severity: .warning,
                "private key file '\(display(path))' is readable by \(mode & 0o004 != 0 ? "everyone" : "its group") "
                    + "(mode \(String(mode & 0o777, radix: 8)))",
                hint: "chmod 600 \(display(path))"))
    }

    // MARK: Helpers

    /// A diagnostic at `position` in the configuration file (the whole file when unknown).
    func diagnostic(
        at position: CoverageLocations.Position?, severity: ConfigDiagnostic.Severity = .error,
        _ message: String, hint: String?
    ) -> ConfigDiagnostic {
        ConfigDiagnostic(
            file: displayPath, line: position?.line ?? 0, column: position?.column ?? 0,
            severity: severity, message: message, hint: hint)
    }

    /// A path as short as it can be while still naming the file: relative to the current folder
    /// when it lies below it, else absolute.
    func display(_ path: String) -> String {
        let current = FileManager.default.currentDirectoryPath
        let prefix = current.hasSuffix("/") ? current : current + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    /// A TLS error's message without the file name it starts with (the diagnostic names the file).
    func reason(_ error: any Error) -> String {
        let text = "\(error)"
        guard let range = text.range(of: ": ") else { return text }
        return String(text[range.upperBound...])
    }

    /// `2026-12-05`, in UTC.
    static func day(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: date)
    }

    /// Whole days from `now` until `date` (rounded up, so "in 10 days" for a certificate made with -days 10).
    static func daysLeft(_ date: Date, now: Date) -> Int {
        Int((date.timeIntervalSince(now) / 86_400).rounded(.up))
    }
}
