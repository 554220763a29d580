import Foundation
import Gatehouse
import GatehouseTLS

/// What the `cert` commands read from a Gatehouse configuration file: the host names a listener
/// serves (for `cert request --config`) and which listeners and pools use each certificate
/// (the Services column of `cert list --config`).
enum CertConfigSupport {
    /// Loads and validates the configuration; its own diagnostics (file:line:col) become the error.
    static func load(_ path: String) throws -> GatehouseConfiguration {
        do {
            return try GatehouseConfiguration.load(path: path).0
        } catch {
            throw CertCLIError("\(error)")
        }
    }

    /// The TLS listener called `name`, or the only TLS listener when `name` is nil.
    static func tlsListener(_ configuration: GatehouseConfiguration, named name: String?) throws -> ListenerConfiguration {
        let tlsListeners = configuration.listeners.filter { $0.tls != nil }
        let known = tlsListeners.map(\.name).joined(separator: ", ")
        if let name {
            guard let listener = configuration.listeners.first(where: { $0.name == name }) else {
                throw CertCLIError("--listener \(name): \(configuration.sourcePath) has no such listener (TLS listeners: \(known))")
            }
            guard listener.tls != nil else {
                throw CertCLIError(
                    "--listener \(name): this listener only redirects to HTTPS and serves no certificate (TLS listeners: \(known))")
            }
            return listener
        }
        guard tlsListeners.count == 1, let only = tlsListeners.first else {
            throw CertCLIError("--listener: \(configuration.sourcePath) has \(tlsListeners.count) TLS listeners; choose one of: \(known)")
        }
        return only
    }

    /// Every host name the listener answers for, with why: each TLS listener serves every virtual
    /// service, so these are the services' host names in file order.
    static func hostNames(
        _ configuration: GatehouseConfiguration,
        listener: ListenerConfiguration
    ) -> (names: [String], origins: [String: String]) {
        var names: [String] = []
        var services: [String: [String]] = [:]
        for service in configuration.services {
            for host in service.hosts {
                if services[host] == nil { names.append(host) }
                services[host, default: []].append(service.name)
            }
        }
        var origins: [String: String] = [:]
        for (host, serviceNames) in services {
            origins[host] = "served by listener \(listener.name) for service \(serviceNames.joined(separator: ", "))"
        }
        return (names, origins)
    }

    /// Which listeners and pools use each certificate: keyed by absolute file path, plus the
    /// SHA-256 pins (lower-case hex) of pools that pin backend certificates.
    struct Usage {
        var byPath: [String: [String]] = [:]
        var byPin: [String: [String]] = [:]
        /// Absolute certificate path -> the OCSP response file configured for it.
        var ocspByPath: [String: String] = [:]

        /// The services using `certificate` loaded from `file`.
        func services(file: String, certificate: X509Certificate, isLeaf: Bool) -> [String] {
            var result = isLeaf ? byPath[CertConfigSupport.absolute(file)] ?? [] : []
            let pin = certificate.sha256Fingerprint.replacingOccurrences(of: ":", with: "").lowercased()
            result += byPin[pin] ?? []
            return result
        }
    }

    /// Collects certificate usage from every listener and pool.
    static func usage(_ configuration: GatehouseConfiguration) -> Usage {
        var usage = Usage()
        for listener in configuration.listeners {
            guard let tls = listener.tls else { continue }
            for pair in tls.certificates {
                let role = pair.certificate == tls.defaultCertificate ? "listener \(listener.name) (default)" : "listener \(listener.name)"
                usage.byPath[absolute(pair.certificate), default: []].append(role)
                if let ocsp = pair.ocsp { usage.ocspByPath[absolute(pair.certificate)] = ocsp }
            }
        }
        for name in configuration.pools.keys.sorted() {
            guard let pool = configuration.pools[name] else { continue }
            for path in pool.trust.certificates {
                usage.byPath[absolute(path), default: []].append("pool \(name) (trusted backend certificate)")
            }
            if let bundle = pool.trust.caBundle {
                usage.byPath[absolute(bundle), default: []].append("pool \(name) (CA bundle)")
            }
            for pin in pool.trust.pinSHA256 {
                usage.byPin[pin.lowercased(), default: []].append("pool \(name) (pinned)")
            }
        }
        return usage
    }

    /// The certificate and key files the configuration refers to, for `cert list --config` without files.
    static func referencedFiles(_ configuration: GatehouseConfiguration) -> [String] {
        var files: [String] = []
        for listener in configuration.listeners {
            for pair in listener.tls?.certificates ?? [] { files += [pair.certificate, pair.key] }
        }
        for name in configuration.pools.keys.sorted() {
            guard let pool = configuration.pools[name] else { continue }
            files += pool.trust.certificates
            if let bundle = pool.trust.caBundle { files.append(bundle) }
        }
        var seen = Set<String>()
        return files.filter { seen.insert(absolute($0)).inserted }
    }

    /// A path made absolute and tidied, so two spellings of one file compare equal.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
