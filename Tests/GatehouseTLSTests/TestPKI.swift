import Foundation

@testable import GatehouseTLS

/// Test certificates generated at test time with `/usr/bin/openssl` into a private temp directory
/// (keys are never committed). Each call makes fresh keys, so tests can run in parallel.
final class TestPKI: @unchecked Sendable {
    /// The temp directory holding this PKI's files; removed in deinit.
    let directory: URL
    private var counter = 0
    private let lock = NSLock()

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gatehouse-tls-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// The kind of key to generate.
    enum KeyKind { case rsa, ecdsa }

    /// Paths of one generated certificate and key.
    struct Files {
        var certificate: String
        var key: String
    }

    private func nextName(_ stem: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        return directory.appendingPathComponent("\(stem)-\(counter)").path
    }

    /// A self-signed leaf with the given CN and SAN dNSNames (and IPs), via `openssl req -x509`.
    func selfSigned(
        cn: String, dns: [String] = [], ips: [String] = [], key: KeyKind = .ecdsa,
        days: Int = 30
    ) throws -> Files {
        let base = nextName(cn.replacingOccurrences(of: "*", with: "star"))
        var args = [
            "req", "-x509", "-new", "-nodes", "-subj", "/CN=\(cn)", "-days", "\(days)",
            "-keyout", base + ".key", "-out", base + ".crt", "-sha256"
        ]
        switch key {
        case .rsa: args += ["-newkey", "rsa:2048"]
        case .ecdsa: args += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        }
        let sans = dns.map { "DNS:\($0)" } + ips.map { "IP:\($0)" }
        if !sans.isEmpty { args += ["-addext", "subjectAltName=" + sans.joined(separator: ",")] }
        args += ["-addext", "basicConstraints=critical,CA:FALSE"]
        try Self.openssl(args)
        return Files(certificate: base + ".crt", key: base + ".key")
    }

    /// A self-signed certificate whose validity window is given explicitly (YYYYMMDDHHMMSSZ), made
    /// with `openssl ca -selfsign` and a minimal config: the only sound way to get an
    /// already-expired or not-yet-valid certificate from the 3.0 command line.
    func selfSignedWindow(cn: String, dns: [String], start: String, end: String) throws -> Files {
        let base = nextName(cn + "-window")
        let caDir = base + ".ca"
        try FileManager.default.createDirectory(atPath: caDir, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: caDir + "/index.txt"))
        try "01\n".write(toFile: caDir + "/serial", atomically: true, encoding: .utf8)
        let config = """
            [ ca ]
            default_ca = test
            [ test ]
            dir = \(caDir)
            database = $dir/index.txt
            serial = $dir/serial
            new_certs_dir = $dir
            default_md = sha256
            policy = anything
            copy_extensions = copy
            unique_subject = no
            [ anything ]
            commonName = supplied
            [ req ]
            distinguished_name = dn
            [ dn ]
            [ ext ]
            basicConstraints = critical,CA:FALSE
            subjectAltName = \(dns.map { "DNS:\($0)" }.joined(separator: ","))
            """
        try config.write(toFile: caDir + "/ca.cnf", atomically: true, encoding: .utf8)
        try Self.openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=\(cn)", "-keyout", base + ".key", "-out", base + ".csr",
            "-config", caDir + "/ca.cnf"
        ])
        try Self.openssl([
            "ca", "-batch", "-selfsign", "-config", caDir + "/ca.cnf", "-keyfile", base + ".key",
            "-in", base + ".csr", "-out", base + ".crt", "-startdate", start, "-enddate", end,
            "-extensions", "ext", "-notext"
        ])
        return Files(certificate: base + ".crt", key: base + ".key")
    }

    /// A CA certificate and a leaf it signed (with SAN dNSNames), via `openssl x509 -req`.
    func caSigned(cn: String, dns: [String]) throws -> (ca: Files, leaf: Files) {
        let base = nextName(cn + "-ca")
        let ca = Files(certificate: base + "-ca.crt", key: base + "-ca.key")
        try Self.openssl([
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=Gatehouse Test CA", "-days", "2", "-keyout", ca.key, "-out", ca.certificate,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
        ])
        let leaf = Files(certificate: base + ".crt", key: base + ".key")
        try Self.openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=\(cn)", "-keyout", leaf.key, "-out", base + ".csr"
        ])
        let ext = "subjectAltName=" + dns.map { "DNS:\($0)" }.joined(separator: ",") + "\nbasicConstraints=critical,CA:FALSE\n"
        try ext.write(toFile: base + ".ext", atomically: true, encoding: .utf8)
        try Self.openssl([
            "x509", "-req", "-in", base + ".csr", "-CA", ca.certificate, "-CAkey", ca.key,
            "-CAcreateserial", "-days", "2", "-extfile", base + ".ext", "-out", leaf.certificate
        ])
        return (ca, leaf)
    }

    /// Root CA -> intermediate CA -> leaf. `leaf.certificate` holds the leaf followed by the
    /// intermediate (what a server must send); `root.certificate` is the trust anchor.
    func intermediateChain(cn: String, dns: [String]) throws -> (root: Files, leaf: Files) {
        let base = nextName(cn + "-chain")
        let root = Files(certificate: base + "-root.crt", key: base + "-root.key")
        try Self.openssl([
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=Gatehouse Test Root", "-days", "2", "-keyout", root.key, "-out", root.certificate,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
        ])
        try Self.openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=Gatehouse Test Intermediate", "-keyout", base + "-int.key", "-out", base + "-int.csr"
        ])
        try "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
            .write(toFile: base + "-int.ext", atomically: true, encoding: .utf8)
        try Self.openssl([
            "x509", "-req", "-in", base + "-int.csr", "-CA", root.certificate, "-CAkey", root.key,
            "-CAcreateserial", "-days", "2", "-extfile", base + "-int.ext", "-out", base + "-int.crt"
        ])
        try Self.openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-subj", "/CN=\(cn)", "-keyout", base + ".key", "-out", base + ".csr"
        ])
        let ext = "subjectAltName=" + dns.map { "DNS:\($0)" }.joined(separator: ",") + "\nbasicConstraints=critical,CA:FALSE\n"
        try ext.write(toFile: base + ".ext", atomically: true, encoding: .utf8)
        try Self.openssl([
            "x509", "-req", "-in", base + ".csr", "-CA", base + "-int.crt", "-CAkey", base + "-int.key",
            "-CAcreateserial", "-days", "2", "-extfile", base + ".ext", "-out", base + "-leaf.crt"
        ])
        let chain =
            try String(contentsOfFile: base + "-leaf.crt", encoding: .utf8)
            + String(contentsOfFile: base + "-int.crt", encoding: .utf8)
        try chain.write(toFile: base + ".crt", atomically: true, encoding: .utf8)
        return (root, Files(certificate: base + ".crt", key: base + ".key"))
    }

    /// Loads a generated certificate + key as a `CertifiedKey` (non-strict).
    func certified(_ files: Files) throws -> CertifiedKey {
        try CertifiedKey.load(certificatePath: files.certificate, keyPath: files.key, strict: false).0
    }

    /// Runs `/usr/bin/openssl` with arguments; throws with its stderr on failure.
    @discardableResult
    static func openssl(_ arguments: [String], input: Data? = nil, timeout: TimeInterval = 30) throws -> String {
        try run("/usr/bin/openssl", arguments, input: input, timeout: timeout).output
    }

    /// Runs an external program bounded by `timeout`; returns its exit status and combined output.
    static func run(
        _ path: String, _ arguments: [String], input: Data? = nil,
        timeout: TimeInterval = 30, check: Bool = true
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("gh-out-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outFile) }
        let handle = try FileHandle(forWritingTo: outFile)
        process.standardOutput = handle
        process.standardError = handle
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try? stdin.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? handle.close()
        let output = (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
        if check && process.terminationStatus != 0 {
            throw TestFailure("\(path) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(output)")
        }
        return (process.terminationStatus, output)
    }
}

/// A plain error for test set-up failures.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
