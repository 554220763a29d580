import ArgumentParser
import Foundation
import GatehouseTLS

/// The `--key` choices; mirrors `KeyAlgorithm` so the CLI owns its spelling and help text.
enum CertKeyChoice: String, ExpressibleByArgument, CaseIterable {
    case rsa2048, rsa4096, p256

    /// The library's key kind.
    var algorithm: KeyAlgorithm {
        switch self {
        case .rsa2048: .rsa2048
        case .rsa4096: .rsa4096
        case .p256: .p256
        }
    }
}

/// Options every generating subcommand shares: where to write and whether to replace files.
struct CertOutputOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory to write the files into (must exist).", valueName: "dir"))
    var out: String

    @Flag(name: .long, help: "Replace existing files instead of refusing.")
    var force = false

    /// The path of `<base>.<ext>` inside the output directory.
    func path(_ base: String, _ ext: String) -> String {
        URL(fileURLWithPath: out).appendingPathComponent("\(base).\(ext)").path
    }

    /// Checks that the output directory exists and that none of `paths` exists (unless --force),
    /// so nothing is written when any file would be refused.
    func checkWritable(_ paths: [String]) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CertCLIError("--out \(out): no such directory (create it first)")
        }
        if !force {
            for path in paths where FileManager.default.fileExists(atPath: path) {
                throw CertCLIError("\(path): already exists (use --force to replace it)")
            }
        }
    }
}

/// A one-line user-facing error from the `cert` commands; ArgumentParser prints it as "Error: ..."
/// and exits with status 1.
struct CertCLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Helpers shared by the `cert` subcommands.
enum CertCLI {
    /// Validates a file base name given with --name: it becomes `<name>.pem` / `<name>.key`.
    static func checkBaseName(_ name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "-_.".unicodeScalars.contains($0)
        }
        guard !name.isEmpty, allowed, !name.hasPrefix(".") else {
            throw CertCLIError("--name \"\(name)\": use letters, digits, '-', '_' and '.' only (it names the output files)")
        }
    }

    /// Writes a key (0600) and then its certificate or request (0644); if the second write fails the
    /// new key is removed again so no orphan is left behind.
    static func writeKeyAndPEM(key: PrivateKey, keyPath: String, pem: String, pemPath: String, overwrite: Bool) throws {
        try key.writePEM(to: keyPath, overwrite: overwrite)
        do {
            try PEMFileWriter.write(pem, to: pemPath, mode: PEMFileWriter.publicMode, overwrite: overwrite)
        } catch {
            try? FileManager.default.removeItem(atPath: keyPath)
            throw error
        }
    }

    /// Writes one line to standard error (Swift 6 cannot touch libc's `stderr` global).
    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
