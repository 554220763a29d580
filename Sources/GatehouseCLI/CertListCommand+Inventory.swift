import Foundation
import GatehouseTLS

/// The certificates and keys named on the `cert list` command line, loaded and paired up.
/// Problems are collected (one line each) so one bad file does not hide the others.
struct CertInventory {
    /// One certificate of one file, with the key that matches it (if any).
    struct Entry {
        var file: String
        var certificate: X509Certificate
        var hasPrivateKey: Bool
    }

    /// A key and where it came from.
    struct LoadedKey {
        var path: String
        var key: PrivateKey
        /// True when named on the command line; false when found in a directory or next to a certificate.
        var explicit: Bool
    }

    private(set) var entries: [Entry] = []
    private(set) var problems: [String] = []
    private var keys: [LoadedKey] = []
    private var certificateFiles: [String] = []

    /// Expands directories, reads certificate files (and their neighbouring .key), reads given keys,
    /// and pairs keys with certificates.
    mutating func load(arguments: [String]) {
        // Keys named one by one must match a certificate; keys found in a directory may belong to
        // something else there (a pending request), so they only count towards HasPrivateKey.
        var keyFiles: [(path: String, explicit: Bool)] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                problems.append("\(argument): no such file or directory")
                continue
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                for name in names.sorted() where !name.hasPrefix(".") {
                    let path = URL(fileURLWithPath: argument).appendingPathComponent(name).path
                    if Self.isKeyFile(name) {
                        keyFiles.append((path, false))
                    } else if [".pem", ".crt", ".cer"].contains(where: { name.lowercased().hasSuffix($0) }) {
                        certificateFiles.append(path)
                    }
                }
            } else if Self.isKeyFile(argument) || Self.holdsOnlyAKey(argument) {
                keyFiles.append((argument, true))
            } else {
                certificateFiles.append(argument)
            }
        }
        certificateFiles = Self.unique(certificateFiles)
        for path in Self.unique(keyFiles.map(\.path)) {
            loadKey(path, explicit: keyFiles.contains { $0.path == path && $0.explicit })
        }

        for file in certificateFiles {
            let chain: [X509Certificate]
            do {
                chain = try X509Certificate.chain(pemFile: file)
            } catch {
                // A request is a common mix-up: say so instead of "no certificate found".
                let text = FileManager.default.contents(atPath: file).map { String(decoding: $0.prefix(1 << 20), as: UTF8.self) }
                if let text, text.contains("-----BEGIN CERTIFICATE REQUEST-----") {
                    problems.append("\(file): this is a certificate request (CSR), not a certificate; send it to your CA")
                } else {
                    problems.append("\(error)")
                }
                continue
            }
            // A neighbouring key (mail.pem -> mail.key) counts even when not named on the command line.
            // NSString keeps a relative path relative, so messages name the file as the user typed it.
            let neighbour = (file as NSString).deletingPathExtension + ".key"
            if FileManager.default.fileExists(atPath: neighbour), !keys.contains(where: { $0.path == neighbour }) {
                loadKey(neighbour, explicit: false)
            }
            if let own = keys.first(where: { $0.path == neighbour }), !own.key.matches(chain[0]) {
                problems.append("\(neighbour): the private key does not match the certificate in \(file)")
            }
            for certificate in chain {
                entries.append(
                    Entry(
                        file: file, certificate: certificate,
                        hasPrivateKey: keys.contains { $0.key.matches(certificate) }))
            }
        }
        for loaded in keys where loaded.explicit {
            if !entries.contains(where: { loaded.key.matches($0.certificate) }) {
                problems.append("\(loaded.path): the private key matches none of the certificates listed")
            }
        }
    }

    /// The rows to print, in file order, with the services from a configuration (if any).
    func rows(usage: CertConfigSupport.Usage = .init()) -> [CertListRow] {
        var seenFiles = Set<String>()
        return entries.map { entry in
            // The first certificate of a file is the leaf the file stands for; the rest is its chain.
            let isLeaf = seenFiles.insert(entry.file).inserted
            let staple = isLeaf ? stapleStatus(file: entry.file, ocsp: usage.ocspByPath[CertConfigSupport.absolute(entry.file)]) : "-"
            return CertListRow(
                entry, services: usage.services(file: entry.file, certificate: entry.certificate, isLeaf: isLeaf), staple: staple)
        }
    }

    /// The staple status of the certificate file `file` whose configured OCSP response is `ocsp`,
    /// checked as Gatehouse checks it at load (the chain is the file's certificates, leaf first).
    private func stapleStatus(file: String, ocsp: String?) -> String {
        guard let ocsp else { return "none" }
        let chain = entries.filter { $0.file == file }.map(\.certificate)
        do {
            let staple = try OCSPStaple.load(path: ocsp, chain: chain)
            return "good until \(ISO8601DateFormatter().string(from: staple.nextUpdate))"
        } catch {
            return "rejected: \(error)"
        }
    }

    /// Reads one key file, recording a problem (encrypted, garbage, DER, wrong type) instead of failing.
    private mutating func loadKey(_ path: String, explicit: Bool) {
        do {
            keys.append(LoadedKey(path: path, key: try PrivateKey(pemFile: path), explicit: explicit))
        } catch {
            problems.append("\(error)")
        }
    }

    /// True for a PEM file that holds a private key and no certificate (e.g. `server-key.pem`), so it
    /// is read as a key rather than reported as "no certificate found".
    private static func holdsOnlyAKey(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let text = String(decoding: data.prefix(1 << 20), as: UTF8.self)
        return text.contains("PRIVATE KEY-----") && !text.contains("-----BEGIN CERTIFICATE-----")
    }

    /// Key files by name: *.key and *.key.pem.
    private static func isKeyFile(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix(".key") || lower.hasSuffix(".key.pem")
    }

    /// The paths without repeats, in first-seen order.
    private static func unique(_ paths: [String]) -> [String] {
        var seen = Set<String>()
        return paths.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted }
    }
}
