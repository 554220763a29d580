/// NTLM negotiate flags used by the simulator (MS-NLMP 2.2.2.5).
enum NTLMFlag {
    static let unicode: UInt32 = 0x0000_0001
    static let oem: UInt32 = 0x0000_0002
    static let requestTarget: UInt32 = 0x0000_0004
    static let sign: UInt32 = 0x0000_0010
    static let seal: UInt32 = 0x0000_0020
    static let ntlm: UInt32 = 0x0000_0200
    static let alwaysSign: UInt32 = 0x0000_8000
    static let targetTypeDomain: UInt32 = 0x0001_0000
    static let extendedSessionSecurity: UInt32 = 0x0008_0000
    static let targetInfo: UInt32 = 0x0080_0000
    static let version: UInt32 = 0x0200_0000
    static let key128: UInt32 = 0x2000_0000
    static let keyExchange: UInt32 = 0x4000_0000
    static let key56: UInt32 = 0x8000_0000

    /// Client flags a server echoes back in its CHALLENGE when the client asked for them.
    static let echoed: UInt32 =
        unicode | requestTarget | sign | seal | alwaysSign | extendedSessionSecurity
        | version | key128 | keyExchange | key56
}

/// A bad NTLM token: answered with 400 and this message.
struct NTLMError: Error, Equatable, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// The 8-byte signature every NTLM message starts with.
let ntlmSignature: [UInt8] = Array("NTLMSSP".utf8) + [0]

/// Little-endian reads from an NTLM message with bounds checks that become `NTLMError`s.
struct NTLMReader {
    let bytes: [UInt8]
    let what: String

    func uint16(at offset: Int) throws -> UInt16 {
        guard offset + 2 <= bytes.count else { throw NTLMError("\(what): truncated at byte \(offset)") }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    func uint32(at offset: Int) throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw NTLMError("\(what): truncated at byte \(offset)") }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

    /// The payload a security buffer (length, max length, offset) at `offset` points to.
    func field(at offset: Int, name: String) throws -> ArraySlice<UInt8> {
        let length = Int(try uint16(at: offset))
        let start = Int(try uint32(at: offset + 4))
        guard length == 0 || (start <= bytes.count && length <= bytes.count - start) else {
            throw NTLMError("\(what): \(name) field (offset \(start), length \(length)) lies outside the \(bytes.count)-byte message")
        }
        return length == 0 ? [] : bytes[start..<start + length]
    }
}

/// The message type of an NTLM token (1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE), after checking its signature.
func ntlmMessageType(_ bytes: [UInt8]) throws -> UInt32 {
    guard bytes.count >= 12, Array(bytes[0..<8]) == ntlmSignature else {
        throw NTLMError("not an NTLM message (no NTLMSSP signature)")
    }
    return try NTLMReader(bytes: bytes, what: "NTLM message").uint32(at: 8)
}

/// An NTLM NEGOTIATE (type 1) message: only its flags matter to a server.
struct NTLMNegotiate: Equatable {
    var flags: UInt32

    /// Parses a type-1 message.
    init(parsing bytes: [UInt8]) throws {
        guard try ntlmMessageType(bytes) == 1 else { throw NTLMError("expected an NTLM NEGOTIATE (type 1) message") }
        guard bytes.count >= 16 else { throw NTLMError("NTLM NEGOTIATE message too short (\(bytes.count) bytes)") }
        flags = try NTLMReader(bytes: bytes, what: "NTLM NEGOTIATE").uint32(at: 12)
    }
}

/// An NTLM AUTHENTICATE (type 3) message: who the client says it is. The simulator does not
/// check the password proof (it has no password database); it only needs the names.
struct NTLMAuthenticate: Equatable {
    var flags: UInt32
    var domain: String
    var user: String
    var workstation: String
    /// The `MsvAvChannelBindings` value (16 bytes) of an NTLMv2 response; nil when the response is
    /// NTLMv1 or carries no such AV pair.
    var channelBindings: [UInt8]?

    /// `DOMAIN\user`, or just `user` when the domain is empty (UPN logons such as `alice@contoso.lab`).
    var qualifiedUser: String { domain.isEmpty ? user : "\(domain)\\\(user)" }

    /// Parses a type-3 message, validating every field's bounds and the names' characters.
    init(parsing bytes: [UInt8]) throws {
        guard try ntlmMessageType(bytes) == 3 else { throw NTLMError("expected an NTLM AUTHENTICATE (type 3) message") }
        guard bytes.count >= 64 else { throw NTLMError("NTLM AUTHENTICATE message too short (\(bytes.count) bytes)") }
        let reader = NTLMReader(bytes: bytes, what: "NTLM AUTHENTICATE")
        flags = try reader.uint32(at: 60)
        let unicode = flags & NTLMFlag.unicode != 0
        _ = try reader.field(at: 12, name: "LmChallengeResponse")
        let ntResponse = try reader.field(at: 20, name: "NtChallengeResponse")
        channelBindings = try Self.channelBindings(inNTResponse: Array(ntResponse))
        domain = try Self.text(reader.field(at: 28, name: "DomainName"), unicode: unicode, name: "DomainName")
        user = try Self.text(reader.field(at: 36, name: "UserName"), unicode: unicode, name: "UserName")
        workstation = try Self.text(reader.field(at: 44, name: "Workstation"), unicode: unicode, name: "Workstation")
    }

    /// AV pair id of `MsvAvChannelBindings` (MS-NLMP 2.2.2.1).
    static let avChannelBindings: UInt16 = 0x000A
    /// Where the AV pairs start in an NTLMv2 response: NTProofStr (16 bytes), then the client
    /// challenge header (RespType, HiRespType, 6 reserved bytes, TimeStamp, ChallengeFromClient,
    /// 4 reserved bytes: 28 bytes).
    static let ntlmV2AvPairsOffset = 44

    /// The channel binding of an NTLMv2 response (longer than NTLMv1's 24 bytes): its AV pairs are
    /// walked, with bounds checked, up to `MsvAvEOL`.
    static func channelBindings(inNTResponse response: [UInt8]) throws -> [UInt8]? {
        guard response.count > 24 else { return nil }
        guard response.count >= ntlmV2AvPairsOffset else {
            throw NTLMError("NTLM AUTHENTICATE: NTLMv2 response too short (\(response.count) bytes)")
        }
        let reader = NTLMReader(bytes: response, what: "NTLM AUTHENTICATE NTLMv2 response")
        var offset = ntlmV2AvPairsOffset
        var found: [UInt8]?
        while true {
            let id = try reader.uint16(at: offset)
            let length = Int(try reader.uint16(at: offset + 2))
            guard offset + 4 + length <= response.count else {
                throw NTLMError("NTLM AUTHENTICATE: AV pair \(id) of the NTLMv2 response runs past its end")
            }
            if id == 0 { return found }
            if id == avChannelBindings {
                guard length == 16 else {
                    throw NTLMError("NTLM AUTHENTICATE: MsvAvChannelBindings is \(length) bytes, not 16")
                }
                found = Array(response[offset + 4..<offset + 20])
            }
            offset += 4 + length
        }
    }

    /// Decodes a name (UTF-16LE or OEM/ASCII) and refuses control characters: the user name is
    /// echoed in a response header, so CR/LF must never get through.
    static func text(_ bytes: ArraySlice<UInt8>, unicode: Bool, name: String) throws -> String {
        guard bytes.count <= 512 else { throw NTLMError("NTLM AUTHENTICATE: \(name) longer than 512 bytes") }
        let decoded: String
        if unicode {
            guard bytes.count % 2 == 0 else { throw NTLMError("NTLM AUTHENTICATE: \(name) has an odd UTF-16 length") }
            let units = stride(from: bytes.startIndex, to: bytes.endIndex, by: 2).map {
                UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8
            }
            var result = ""
            for scalar in UnicodeScalarDecodingIterator(units) {
                guard let scalar else { throw NTLMError("NTLM AUTHENTICATE: \(name) is not valid UTF-16") }
                result.unicodeScalars.append(scalar)
            }
            decoded = result
        } else {
            guard bytes.allSatisfy({ $0 < 0x80 }) else { throw NTLMError("NTLM AUTHENTICATE: \(name) is not ASCII") }
            decoded = String(decoding: bytes, as: UTF8.self)
        }
        guard decoded.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw NTLMError("NTLM AUTHENTICATE: \(name) contains control characters")
        }
        return decoded
    }
}

/// Decodes UTF-16 code units into scalars, yielding nil for an unpaired surrogate.
struct UnicodeScalarDecodingIterator: Sequence, IteratorProtocol {
    var codec = UTF16()
    var units: IndexingIterator<[UInt16]>
    init(_ units: [UInt16]) { self.units = units.makeIterator() }
    mutating func next() -> Unicode.Scalar?? {
        switch codec.decode(&units) {
        case .scalarValue(let scalar): return .some(scalar)
        case .emptyInput: return nil
        case .error: return .some(nil)
        }
    }
}
