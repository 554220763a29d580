import ArgumentParser
import Foundation
import GatehouseTLS

/// `gatehouse cert ticket-key`: manage the session-ticket key file that several Gatehouse
/// instances share (`tls.ticket_keys`), so any of them resumes a session another issued.
struct CertTicketKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticket-key",
        abstract: "Manage a shared session-ticket key file (tls.ticket_keys).",
        subcommands: [CertTicketKeyRotateCommand.self])
}

/// `gatehouse cert ticket-key rotate FILE [--keep N]`.
struct CertTicketKeyRotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Put a fresh random key first in a ticket key file and keep the newest N keys.",
        discussion: """
            The file holds one key per line: base64 of 80 bytes (16-byte name, 32-byte HMAC-SHA256 \
            key, 32-byte AES-256 key, nginx's layout). The first key encrypts new tickets; all of them \
            decrypt, so tickets issued before the rotation still resume (and are renewed under the new \
            key). The file is created if absent and replaced atomically with mode 0600.
            Copy the file to every instance, then run `gatehouse reload` on each. Rotating more often \
            than clients reconnect, with --keep 3, keeps resumption working through two rotations.
            """)

    @Argument(help: ArgumentHelp("The key file.", valueName: "file"))
    var file: String

    @Option(help: "How many keys to keep, the new one included (1-100).")
    var keep: Int = 3

    func validate() throws {
        guard (1...100).contains(keep) else { throw ValidationError("--keep must be between 1 and 100, not \(keep)") }
    }

    func run() throws {
        var existing: TicketKeyRing?
        if FileManager.default.fileExists(atPath: file) {
            do {
                existing = try TicketKeyRing.load(path: file).ring
            } catch {
                throw CertCLIError("\(file): \(error); fix or remove the file (nothing was changed)")
            }
        }
        let key = try TicketKey.random()
        let ring = existing?.rotated(adding: key, keep: keep) ?? TicketKeyRing(keys: [key])!
        try PEMFileWriter.write(ring.fileText, to: file, mode: PEMFileWriter.privateKeyMode, overwrite: true)
        let dropped = (existing?.keys.count ?? 0) + 1 - ring.keys.count
        print(
            "\(file): new key \(Self.hex(key.name)) first, \(ring.keys.count) key(s) kept"
                + (dropped > 0 ? ", \(dropped) oldest dropped" : ""))
    }

    /// A key name as lower-case hex, for logs (the name is public: it travels in every ticket).
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
