import COpenSSL
import Foundation

/// One 80-byte session-ticket key, laid out as nginx's `ssl_session_ticket_key` file:
/// 16-byte name (sent in clear at the start of every ticket), 32-byte HMAC-SHA256 key, 32-byte
/// AES-256-CBC key.
public struct TicketKey: Sendable, Equatable {
    /// The size of one key in the file (nginx's 80-byte form; the 48-byte AES-128 form is refused).
    public static let size = 80

    /// Identifies the key inside a ticket, so a server can pick the decryption key.
    public let name: [UInt8]
    /// The HMAC-SHA256 key that authenticates the ticket.
    public let hmacKey: [UInt8]
    /// The AES-256-CBC key that encrypts the ticket.
    public let aesKey: [UInt8]

    /// Splits 80 bytes as name(16) | HMAC(32) | AES(32); nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        name = Array(bytes[0..<16])
        hmacKey = Array(bytes[16..<48])
        aesKey = Array(bytes[48..<80])
    }

    /// The 80 bytes in file order.
    public var bytes: [UInt8] { name + hmacKey + aesKey }

    /// A fresh key from OpenSSL's CSPRNG.
    public static func random() throws -> TicketKey {
        var bytes = [UInt8](repeating: 0, count: size)
        guard RAND_bytes(&bytes, Int32(size)) == 1, let key = TicketKey(bytes: bytes) else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot generate a session ticket key"))
        }
        return key
    }
}

/// The session-ticket keys of a listener, shared by several Gatehouse instances through one file
/// so that any instance resumes a session another one issued.
///
/// The file holds one key per line, base64 of the 80 bytes of a `TicketKey`; blank lines and
/// lines starting with `#` are ignored. The first key encrypts new tickets; every key decrypts,
/// and a ticket decrypted with any key but the first is renewed (the client gets a ticket under
/// the first key). This is nginx's layout and order (one `ssl_session_ticket_key` file per key,
/// the first directive encrypts), written as HAProxy-style base64 lines.
public struct TicketKeyRing: Sendable, Equatable {
    /// The keys, newest (encrypting) first; never empty.
    public let keys: [TicketKey]

    /// What decrypting a ticket with a given key name leads to.
    public enum Decision: Equatable, Sendable {
        /// No key has this name: the ticket is ignored and a full handshake follows.
        case unknown
        /// Decrypt with the current key; the ticket stays as it is.
        case current(TicketKey)
        /// Decrypt with an older key, then issue a new ticket under the current key.
        case renew(TicketKey)
    }

    /// A ring; nil when `keys` is empty.
    public init?(keys: [TicketKey]) {
        guard !keys.isEmpty else { return nil }
        self.keys = keys
    }

    /// The key that encrypts new tickets.
    public var current: TicketKey { keys[0] }

    /// The decision for a ticket whose first 16 bytes are `name`.
    public func decision(forName name: [UInt8]) -> Decision {
        guard let index = keys.firstIndex(where: { $0.name == name }) else { return .unknown }
        return index == 0 ? .current(keys[0]) : .renew(keys[index])
    }

    /// The ring with `key` first and at most `keep` keys in all (the oldest are dropped).
    public func rotated(adding key: TicketKey, keep: Int) -> TicketKeyRing {
        TicketKeyRing(keys: Array(([key] + keys).prefix(max(1, keep))))!
    }

    /// The file text: one base64 line per key, newest first.
    public var fileText: String {
        keys.map { Data($0.bytes).base64EncodedString() + "\n" }.joined()
    }

    /// A problem with a key file, with the 1-based line it is on (nil: the whole file).
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public var line: Int?
        public var message: String
        public var description: String { line.map { "line \($0): \(message)" } ?? message }
    }

    /// Parses the file text; refuses bad base64, keys that are not 80 bytes, repeated key names and
    /// a file without keys.
    public static func parse(_ text: String) throws -> TicketKeyRing {
        var keys: [TicketKey] = []
        // "\r\n" is one Character, so lines are split on any newline Character.
        for (offset, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let data = Data(base64Encoded: line) else {
                throw ParseError(line: offset + 1, message: "not valid base64")
            }
            guard let key = TicketKey(bytes: [UInt8](data)) else {
                let hint = data.count == 48 ? " (48-byte AES-128 keys are not supported)" : ""
                throw ParseError(line: offset + 1, message: "a key must be 80 bytes, this one is \(data.count)\(hint)")
            }
            if keys.contains(where: { $0.name == key.name }) {
                throw ParseError(line: offset + 1, message: "repeats the name (first 16 bytes) of an earlier key")
            }
            keys.append(key)
        }
        guard let ring = TicketKeyRing(keys: keys) else {
            throw ParseError(line: nil, message: "the file holds no keys")
        }
        return ring
    }

    /// Reads and parses `path`. The files this can be asked to read are small; anything over
    /// 64 KiB is refused. Returns a warning when group or others may read the file.
    public static func load(path: String) throws -> (ring: TicketKeyRing, warning: String?) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ParseError(line: nil, message: "cannot read the file")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 65_537)) ?? Data()
        guard data.count <= 65_536 else { throw ParseError(line: nil, message: "the file is larger than 64 KiB") }
        let ring = try parse(String(decoding: data, as: UTF8.self))
        var warning: String?
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value, mode & 0o077 != 0
        {
            warning =
                "\(path): session ticket key file is readable by group/others (mode \(String(mode & 0o777, radix: 8))); run `chmod 600 \(path)`"
        }
        return (ring, warning)
    }
}
