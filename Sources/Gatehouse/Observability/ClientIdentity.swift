import Foundation

/// Who a client says it is, for the access log's `cs-username`: the user name of an HTTP Basic
/// `Authorization`, or `DOMAIN\user` from an NTLM AUTHENTICATE (type 3) message, bare or inside
/// SPNEGO (`Negotiate`). Never a password, hash, challenge response or token: Basic stops at the
/// colon, NTLM reads only the domain and user fields (MS-NLMP 2.2.1.3).
///
/// Parsed once per request that carries credentials; a connection's NTLM identity is kept by the
/// connection (`ProxyHandler.authenticatedUser`), as NTLM authenticates the connection.
enum ClientIdentity {
    /// What an `Authorization` value says about the user.
    enum Claim: Equatable {
        /// Basic: the user name (the backend decides whether the password is right).
        case basic(String)
        /// An NTLM AUTHENTICATE message: `DOMAIN\user` (or `user` with no domain).
        case ntlm(String)
    }

    /// The longest `Authorization` value looked at (Kerberos tickets are larger; they name no user
    /// we could read anyway).
    static let maxValueBytes = 16 * 1024
    /// The longest domain or user name field accepted (UTF-16: 2 bytes a character).
    static let maxNameBytes = 512

    /// The claim in one `Authorization` value, or nil (another scheme, an NTLM NEGOTIATE, an
    /// anonymous AUTHENTICATE, or a malformed token).
    static func claim(authorization value: String) -> Claim? {
        guard value.utf8.count <= maxValueBytes else { return nil }
        let trimmed = value.drop(while: { $0 == " " || $0 == "\t" })
        guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
        let scheme = trimmed[..<space].lowercased()
        let credentials = trimmed[space...].trimmingCharacters(in: .whitespaces)
        guard let data = Data(base64Encoded: credentials) else { return nil }
        let bytes = [UInt8](data)
        switch scheme {
        case "basic":
            let user = bytes.prefix(while: { $0 != UInt8(ascii: ":") })
            guard !user.isEmpty, user.count <= maxNameBytes else { return nil }
            return .basic(String(decoding: user, as: UTF8.self))
        case "ntlm", "negotiate":
            return ntlmUser(inToken: bytes).map { .ntlm($0) }
        default:
            return nil
        }
    }

    /// `DOMAIN\user` of the NTLM AUTHENTICATE message in `token` (found by its signature, so a
    /// SPNEGO wrapping is looked through); nil for other message types and anonymous logons.
    static func ntlmUser(inToken token: [UInt8]) -> String? {
        let signature: [UInt8] = Array("NTLMSSP\0".utf8)
        guard token.count >= signature.count else { return nil }
        var start: Int?
        for offset in 0...(token.count - signature.count)
        where token[offset] == signature[0] && token[offset..<offset + signature.count].elementsEqual(signature) {
            start = offset
            break
        }
        guard let start else { return nil }
        let message = token[start...]
        // Type 3 with at least the fixed fields up to NegotiateFlags (offset 64).
        guard message.count >= 64, uint32(message, at: 8) == 3 else { return nil }
        let unicode = uint32(message, at: 60) & 0x0000_0001 != 0
        let domain = field(message, at: 28, unicode: unicode)
        guard let user = field(message, at: 36, unicode: unicode), !user.isEmpty else { return nil }
        if let domain, !domain.isEmpty { return domain + "\\" + user }
        return user
    }

    /// A security buffer's text: length (2 bytes), max length (2), offset (4) from the message's
    /// start; UTF-16LE when the message negotiated Unicode, else one byte a character.
    private static func field(_ message: ArraySlice<UInt8>, at position: Int, unicode: Bool) -> String? {
        let length = Int(uint16(message, at: position))
        let offset = Int(uint32(message, at: position + 4))
        guard length <= maxNameBytes, offset <= message.count, length <= message.count - offset else { return nil }
        let base = message.startIndex + offset
        let bytes = message[base..<base + length]
        if unicode {
            guard length % 2 == 0 else { return nil }
            var units: [UInt16] = []
            units.reserveCapacity(length / 2)
            var index = bytes.startIndex
            while index < bytes.endIndex {
                units.append(UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8)
                index += 2
            }
            return String(decoding: units, as: UTF16.self)
        }
        return String(decoding: bytes, as: Unicode.ASCII.self)
    }

    private static func uint16(_ message: ArraySlice<UInt8>, at position: Int) -> UInt16 {
        let base = message.startIndex + position
        return UInt16(message[base]) | UInt16(message[base + 1]) << 8
    }

    private static func uint32(_ message: ArraySlice<UInt8>, at position: Int) -> UInt32 {
        let base = message.startIndex + position
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(message[base + $1]) << (8 * UInt32($1)) }
    }
}
