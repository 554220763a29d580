/// Reads the SNI host name out of the first bytes a TLS client sends, without terminating TLS:
/// what a pass-through listener needs to choose a backend while the bytes stay the client's own.
/// A pure function of the bytes received so far (called again with more while it answers
/// `needMore`), so a ClientHello split over several TCP reads or several TLS records reads the
/// same as one sent whole. Nothing here allocates beyond the host name it returns.
///
/// The layout read (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2, RFC 6066 §3): TLS records of content type
/// 22 (handshake) whose payloads, concatenated, hold one handshake message of type 1 (ClientHello):
/// version (2), random (32), session id (1 + n), cipher suites (2 + n), compression methods (1 + n),
/// then extensions (2 + n), each type (2) + length (2) + body; server_name is type 0.
public enum ClientHelloPeek {
    /// The default cap on the bytes buffered before the SNI is known. A ClientHello with a
    /// post-quantum key share is about 1.8 KB; 16 KiB leaves room for large session tickets.
    public static let defaultMaximumBytes = 16 * 1024

    /// What the bytes so far say.
    public enum Result: Equatable, Sendable {
        /// The bytes are a valid beginning of a ClientHello: read more.
        case needMore
        /// A complete ClientHello with this SNI host name (LDH ASCII, as the client wrote it).
        case serverName(String)
        /// A complete ClientHello without a server_name extension, or with no host_name entry.
        case noServerName
        /// The bytes are not a TLS ClientHello, or its server_name extension is malformed.
        case invalid(String)
        /// The ClientHello would not fit in `maximumBytes`.
        case tooLarge
    }

    /// Reads `bytes` (everything the client has sent so far).
    public static func read(_ bytes: UnsafeRawBufferPointer, maximumBytes: Int = defaultMaximumBytes) -> Result {
        // Gather the handshake payload from consecutive records, without copying more than the
        // handshake message (the records' 5-byte headers are skipped).
        var handshake: [UInt8] = []
        var offset = 0
        var needed: Int?  // the whole handshake message's length, once its header is known
        while true {
            if let needed, handshake.count >= needed { break }
            guard bytes.count - offset >= 1 else { return .needMore }
            guard bytes[offset] == 22 else {
                return .invalid(offset == 0 ? "not a TLS handshake record" : "a non-handshake record inside the ClientHello")
            }
            guard bytes.count - offset >= 2 else { return .needMore }
            guard bytes[offset + 1] == 3 else { return .invalid("not a TLS record version") }
            guard bytes.count - offset >= 5 else { return .needMore }
            let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            // RFC 8446 §5.1: a record carries at most 2^14 bytes, and handshake records are never empty.
            guard length > 0, length <= 16384 else { return .invalid("bad TLS record length \(length)") }
            let available = min(length, bytes.count - offset - 5)
            let start = offset + 5
            handshake.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<start + available]))
            if needed == nil, handshake.count >= 4 {
                guard handshake[0] == 1 else { return .invalid("the first handshake message is not a ClientHello") }
                let messageLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                needed = 4 + messageLength
            }
            if let needed, needed + 5 > maximumBytes { return .tooLarge }
            if available < length {
                // The record is cut short: wait for the rest unless the message is already whole.
                if let needed, handshake.count >= needed { break }
                return offset + 5 + length > maximumBytes ? .tooLarge : .needMore
            }
            offset += 5 + length
            if offset >= maximumBytes, !(needed.map { handshake.count >= $0 } ?? false) { return .tooLarge }
        }
        return parseClientHello(handshake[4..<needed!])
    }

    /// Reads `bytes` (tests and fuzzing).
    public static func read(_ bytes: [UInt8], maximumBytes: Int = defaultMaximumBytes) -> Result {
        bytes.withUnsafeBytes { read($0, maximumBytes: maximumBytes) }
    }

    /// The ClientHello body (after the 4-byte handshake header).
    static func parseClientHello(_ body: ArraySlice<UInt8>) -> Result {
        var cursor = body.startIndex
        let end = body.endIndex
        func skip(_ count: Int) -> Bool {
            guard end - cursor >= count else { return false }
            cursor += count
            return true
        }
        func vector(lengthBytes: Int) -> Int? {
            guard end - cursor >= lengthBytes else { return nil }
            var length = 0
            for index in 0..<lengthBytes { length = length << 8 | Int(body[cursor + index]) }
            cursor += lengthBytes
            guard end - cursor >= length else { return nil }
            return length
        }
        guard skip(2 + 32) else { return .invalid("ClientHello too short") }
        guard let session = vector(lengthBytes: 1), session <= 32, skip(session) else {
            return .invalid("bad session id")
        }
        guard let suites = vector(lengthBytes: 2), suites >= 2, suites % 2 == 0, skip(suites) else {
            return .invalid("bad cipher suites")
        }
        guard let compression = vector(lengthBytes: 1), compression >= 1, skip(compression) else {
            return .invalid("bad compression methods")
        }
        // No extensions at all (an old TLS 1.0 client): no SNI.
        guard cursor < end else { return .noServerName }
        guard let extensionsLength = vector(lengthBytes: 2), cursor + extensionsLength == end else {
            return .invalid("bad extensions length")
        }
        while cursor < end {
            guard end - cursor >= 4 else { return .invalid("truncated extension") }
            let type = Int(body[cursor]) << 8 | Int(body[cursor + 1])
            cursor += 2
            guard let length = vector(lengthBytes: 2) else { return .invalid("extension runs past the ClientHello") }
            if type == 0 {
                guard let name = ClientHelloFacts.parseServerName(Array(body[cursor..<cursor + length])) else {
                    return .invalid("malformed server_name extension")
                }
                return .serverName(name)
            }
            cursor += length
        }
        return .noServerName
    }
}
