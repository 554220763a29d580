import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes PEM files (certificates, keys, requests) so that a private key is never readable by anyone
/// else, not even for a moment: the file is born with its final mode in a fresh temporary name and
/// then moved into place in one step, so a reader never sees a half-written or wider-open file.
public enum PEMFileWriter {
    /// The mode for private keys: owner read/write only.
    public static let privateKeyMode: UInt16 = 0o600
    /// The mode for certificates and requests: public data.
    public static let publicMode: UInt16 = 0o644

    /// Writes `text` to `path` with exactly `mode`.
    /// - Parameter overwrite: when false an existing file is an error (nothing is changed).
    /// - Throws: `TLSError(.io)` naming the file and the system's reason.
    public static func write(_ text: String, to path: String, mode: UInt16, overwrite: Bool) throws {
        try write(bytes: Array(text.utf8), to: path, mode: mode, overwrite: overwrite)
    }

    /// Writes binary `bytes` (a PKCS#12 file) to `path` with exactly `mode`, the same way.
    public static func write(bytes: [UInt8], to path: String, mode: UInt16, overwrite: Bool) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TLSError(.io, "\(path): the directory \(directory) does not exist")
        }
        if !overwrite, FileManager.default.fileExists(atPath: path) {
            throw TLSError(.io, "\(path): already exists (refusing to overwrite it)")
        }
        var random = SystemRandomNumberGenerator()
        let suffix = String(random.next(), radix: 16)
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-" + suffix

        // O_EXCL: we create the file ourselves (never follow a planted link or reuse a file someone
        // else opened); the mode argument applies at creation, so a key is 0600 from its first byte.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        guard fd >= 0 else {
            throw TLSError(.io, "\(path): cannot create a file in \(directory): \(errnoText())")
        }
        var succeeded = false
        defer {
            if !succeeded { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            // The umask can only narrow the mode given to open(); fchmod makes it exact (0644 stays 0644).
            guard fchmod(fd, mode_t(mode)) == 0 else {
                throw TLSError(.io, "\(path): cannot set mode \(String(mode, radix: 8)): \(errnoText())")
            }
            var written = 0
            while written < bytes.count {
                let result = bytes.withUnsafeBytes { raw in
                    Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw TLSError(.io, "\(path): write failed: \(errnoText())")
                }
                written += result
            }
            // Make the content durable before the name points at it.
            guard fsync(fd) == 0 else { throw TLSError(.io, "\(path): fsync failed: \(errnoText())") }
        }
        if overwrite {
            // rename() atomically replaces any existing file.
            guard rename(temporary, path) == 0 else {
                throw TLSError(.io, "\(path): cannot move the new file into place: \(errnoText())")
            }
        } else {
            // link() fails with EEXIST if the name appeared meanwhile: never clobber a file we did not check.
            guard link(temporary, path) == 0 else {
                if errno == EEXIST { throw TLSError(.io, "\(path): already exists (refusing to overwrite it)") }
                throw TLSError(.io, "\(path): cannot create: \(errnoText())")
            }
            unlink(temporary)
        }
        succeeded = true
    }

    /// The text of the current `errno`.
    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

extension PrivateKey {
    /// Writes the key as unencrypted PKCS#8 PEM with mode 0600 (see `PEMFileWriter`).
    public func writePEM(to path: String, overwrite: Bool = false) throws {
        try PEMFileWriter.write(pemString, to: path, mode: PEMFileWriter.privateKeyMode, overwrite: overwrite)
    }
}
