import Foundation
import Testing

@testable import MailboxSimCore

/// NTLM message handling: the CHALLENGE is a valid type-2 message and AUTHENTICATE names the user.
@Suite("NTLM emulation")
struct NTLMTests {
    let configuration = SimConfiguration(name: "mbx01", fqdn: "mbx01.contoso.lab")

    /// A type-1 NEGOTIATE with `flags`.
    func negotiate(flags: UInt32) -> String {
        Data(ntlmSignature + le32(1) + le32(flags) + [UInt8](repeating: 0, count: 16)).base64EncodedString()
    }

    /// A type-3 AUTHENTICATE naming `domain\user` (UTF-16LE), with dummy responses.
    func authenticate(domain: String, user: String, workstation: String = "WS1") -> String {
        func utf16(_ text: String) -> [UInt8] { text.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }
        let fields: [[UInt8]] = [
            [UInt8](repeating: 1, count: 24), [UInt8](repeating: 2, count: 24),
            utf16(domain), utf16(user), utf16(workstation), []
        ]
        var header = ntlmSignature + le32(3)
        var payload: [UInt8] = []
        for field in fields {
            header += le16(UInt16(field.count)) + le16(UInt16(field.count)) + le32(UInt32(64 + payload.count))
            payload += field
        }
        header += le32(NTLMFlag.unicode | NTLMFlag.ntlm)
        return Data(header + payload).base64EncodedString()
    }

    /// Splits a CHALLENGE's target-info into AV pairs (id -> value bytes).
    func avPairs(_ message: [UInt8]) throws -> [UInt16: [UInt8]] {
        let reader = NTLMReader(bytes: message, what: "challenge")
        let info = Array(try reader.field(at: 40, name: "TargetInfo"))
        var pairs: [UInt16: [UInt8]] = [:]
        var offset = 0
        while offset + 4 <= info.count {
            let id = UInt16(info[offset]) | UInt16(info[offset + 1]) << 8
            let length = Int(UInt16(info[offset + 2]) | UInt16(info[offset + 3]) << 8)
            pairs[id] = Array(info[offset + 4..<offset + 4 + length])
            offset += 4 + length
            if id == 0 { break }
        }
        return pairs
    }

    func utf16String(_ bytes: [UInt8]?) -> String {
        let bytes = bytes ?? []
        return String(
            decoding: stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 },
            as: UTF16.self)
    }

    @Test("NEGOTIATE gets a type-2 CHALLENGE: echoed flags, random challenge, target info with domain and computer names")
    func challenge() throws {
        let clientFlags =
            NTLMFlag.unicode | NTLMFlag.ntlm | NTLMFlag.extendedSessionSecurity | NTLMFlag.version
            | NTLMFlag.alwaysSign | NTLMFlag.key128 | NTLMFlag.sign
        var auth = NTLMConnectionAuth()
        guard
            case .challenge(let header) = auth.process(
                authorization: "NTLM \(negotiate(flags: clientFlags))",
                configuration: configuration, now: 1_700_000_000)
        else {
            Issue.record("no challenge")
            return
        }
        #expect(header.hasPrefix("NTLM "))
        let message = [UInt8](Data(base64Encoded: String(header.dropFirst(5)))!)
        #expect(try ntlmMessageType(message) == 2)
        let reader = NTLMReader(bytes: message, what: "challenge")
        let flags = try reader.uint32(at: 20)
        #expect(flags & clientFlags == clientFlags, "client flags echoed")
        #expect(flags & NTLMFlag.targetInfo != 0)
        #expect(flags & NTLMFlag.oem == 0)
        #expect(utf16String(Array(try reader.field(at: 12, name: "TargetName"))) == "CONTOSO")
        let pairs = try avPairs(message)
        #expect(utf16String(pairs[2]) == "CONTOSO")
        #expect(utf16String(pairs[1]) == "MBX01")
        #expect(utf16String(pairs[4]) == "contoso.lab")
        #expect(utf16String(pairs[3]) == "mbx01.contoso.lab")
        #expect(pairs[7]?.count == 8, "timestamp present")
        #expect(pairs[0] == [], "list ends with MsvAvEOL")
        #expect(Array(message[48..<56]) == [10, 0, 0x63, 0x45, 0, 0, 0, 0x0F], "version 10.0.17763, revision 15")
        // A second challenge uses a fresh server challenge.
        guard
            case .challenge(let again) = auth.process(
                authorization: "NTLM \(negotiate(flags: clientFlags))",
                configuration: configuration, now: 1_700_000_000)
        else {
            Issue.record("no second challenge")
            return
        }
        let second = [UInt8](Data(base64Encoded: String(again.dropFirst(5)))!)
        #expect(message[24..<32] != second[24..<32])
    }

    @Test("AUTHENTICATE after the CHALLENGE authenticates the connection as DOMAIN\\user")
    func authenticates() {
        var auth = NTLMConnectionAuth()
        _ = auth.process(authorization: "Negotiate \(negotiate(flags: NTLMFlag.unicode))", configuration: configuration, now: 0)
        let outcome = auth.process(
            authorization: "Negotiate \(authenticate(domain: "CONTOSO", user: "alice"))",
            configuration: configuration, now: 0)
        #expect(outcome == .authenticated(user: "CONTOSO\\alice"))
        #expect(auth.user == "CONTOSO\\alice")
    }

    @Test("AUTHENTICATE without a CHALLENGE on this connection is refused (401), not accepted")
    func authenticateWithoutChallenge() {
        var auth = NTLMConnectionAuth()
        let outcome = auth.process(
            authorization: "NTLM \(authenticate(domain: "CONTOSO", user: "alice"))",
            configuration: configuration, now: 0)
        guard case .rejected = outcome else {
            Issue.record("expected rejection, got \(outcome)")
            return
        }
        #expect(auth.user == nil)
    }

    @Test(
        "malformed tokens are 400s with a reason, never a crash",
        arguments: [
            "NTLM", "NTLM !!!notbase64", "NTLM " + Data("hello world".utf8).base64EncodedString(),
            "NTLM " + Data(ntlmSignature + le32(1)).base64EncodedString(),
            "NTLM " + Data(ntlmSignature + le32(2) + [UInt8](repeating: 0, count: 40)).base64EncodedString(),
            "NTLM " + Data(ntlmSignature + le32(3) + [UInt8](repeating: 0xff, count: 60)).base64EncodedString(),
            "Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg=="
        ])
    func malformed(header: String) {
        var auth = NTLMConnectionAuth()
        _ = auth.process(authorization: "NTLM \(negotiate(flags: NTLMFlag.unicode))", configuration: configuration, now: 0)
        let outcome = auth.process(authorization: header, configuration: configuration, now: 0)
        guard case .malformed(let reason) = outcome else {
            Issue.record("expected malformed, got \(outcome)")
            return
        }
        #expect(!reason.isEmpty)
    }

    @Test("a user name with CR/LF cannot reach the X-Sim-User header")
    func controlCharactersRefused() {
        var auth = NTLMConnectionAuth()
        _ = auth.process(authorization: "NTLM \(negotiate(flags: NTLMFlag.unicode))", configuration: configuration, now: 0)
        let outcome = auth.process(
            authorization: "NTLM \(authenticate(domain: "CONTOSO", user: "eve\r\nX-Evil: 1"))",
            configuration: configuration, now: 0)
        guard case .malformed = outcome else {
            Issue.record("expected malformed, got \(outcome)")
            return
        }
        #expect(auth.user == nil)
    }

    @Test("Basic and other schemes are ignored (the request stays anonymous)")
    func otherSchemes() {
        var auth = NTLMConnectionAuth()
        #expect(auth.process(authorization: "Basic YWxpY2U6cHc=", configuration: configuration, now: 0) == .ignored)
    }

    @Test("SPNEGO: the NTLM token is unwrapped from a NegTokenInit and a NegTokenResp; bad DER is an error")
    func spnegoWrapping() throws {
        // pyspnego's protocol="negotiate" first token: InitialContextToken { SPNEGO, NegTokenInit { [NTLM], NTLM type 1 } }.
        let hex =
            "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000378208e200000000280000000000000028000000000c04000000000f"
        let bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
        let inner = try SPNEGO.unwrap(bytes)
        #expect(try ntlmMessageType(inner) == 1)
        #expect(inner.count == 40)
        let response = SPNEGO.response(state: .acceptIncomplete, token: [1, 2, 3])
        #expect(response.first == 0xA1)
        #expect(try SPNEGO.unwrap(response) == [1, 2, 3])
        #expect(throws: NTLMError.self) { try SPNEGO.unwrap(Array(bytes.prefix(20))) }
        #expect(throws: NTLMError.self) { try SPNEGO.unwrap([0x60, 0x84, 0xff, 0xff, 0xff, 0xff]) }
    }
}

/// Random and mutated tokens must never crash the parsers (they come straight from the network).
@Suite("NTLM robustness")
struct NTLMRobustnessTests {
    @Test("thousands of random and truncated NTLM/SPNEGO tokens give outcomes, never traps")
    func randomTokens() {
        let configuration = SimConfiguration()
        var generator = SystemRandomNumberGenerator()
        for round in 0..<3000 {
            var auth = NTLMConnectionAuth()
            _ = auth.process(
                authorization: "NTLM " + Data(ntlmSignature + le32(1) + le32(1)).base64EncodedString(),
                configuration: configuration, now: 0)
            let length = Int.random(in: 0...120, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            switch round % 4 {
            case 0: bytes = ntlmSignature + le32(3) + bytes
            case 1: bytes = ntlmSignature + le32(1) + bytes
            case 2: bytes = [0x60, UInt8(truncatingIfNeeded: length)] + bytes
            default: bytes = [0xA1] + bytes
            }
            let scheme = round % 2 == 0 ? "NTLM" : "Negotiate"
            let outcome = auth.process(
                authorization: "\(scheme) " + Data(bytes).base64EncodedString(),
                configuration: configuration, now: 0)
            if case .authenticated(let user, _) = outcome {
                #expect(!user.unicodeScalars.contains { $0.value < 0x20 })
            }
        }
    }
}
