import Foundation
import Testing

@testable import Gatehouse

/// `cs-username`: the user name from Basic credentials and from NTLM AUTHENTICATE (type 3)
/// messages, bare and inside SPNEGO; never the password, and nothing from other messages.
@Suite struct ClientIdentityTests {
    /// An NTLM AUTHENTICATE message as MS-NLMP 2.2.1.3 lays it out: the 64-byte fixed part
    /// (signature, type 3, six security buffers, flags), then the payload the buffers point into.
    static func authenticate(domain: String, user: String, workstation: String = "WS01", unicode: Bool = true) -> [UInt8] {
        func encode(_ text: String) -> [UInt8] {
            unicode ? text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } : Array(text.utf8)
        }
        let lm = [UInt8](repeating: 0, count: 24)
        let nt = [UInt8](repeating: 0xAB, count: 24)  // a stand-in NTLMv2 response: never read
        let payloads = [lm, nt, encode(domain), encode(user), encode(workstation), []]
        var message = Array("NTLMSSP\0".utf8) + le32(3)
        var offset = 64
        for payload in payloads {
            message += le16(payload.count) + le16(payload.count) + le32(offset)
            offset += payload.count
        }
        message += le32(unicode ? 0xE288_8215 : 0xE288_8214)  // NEGOTIATE_UNICODE is bit 0
        return message + payloads.flatMap { $0 }
    }

    static func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
    static func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(value >> (8 * $0) & 0xFF) } }
    static func header(_ scheme: String, _ bytes: [UInt8]) -> String { "\(scheme) " + Data(bytes).base64EncodedString() }

    @Test func ntlmAuthenticateGivesDomainBackslashUser() {
        let value = Self.header("NTLM", Self.authenticate(domain: "CONTOSO", user: "alice"))
        #expect(ClientIdentity.claim(authorization: value) == .ntlm("CONTOSO\\alice"))
    }

    @Test func oemEncodedNamesAndNoDomain() {
        let oem = Self.header("NTLM", Self.authenticate(domain: "CONTOSO", user: "bob", unicode: false))
        #expect(ClientIdentity.claim(authorization: oem) == .ntlm("CONTOSO\\bob"))
        let bare = Self.header("NTLM", Self.authenticate(domain: "", user: "carol"))
        #expect(ClientIdentity.claim(authorization: bare) == .ntlm("carol"))
    }

    @Test func nonASCIIUserNamesDecodeFromUTF16() {
        let value = Self.header("NTLM", Self.authenticate(domain: "CONTOSO", user: "jürgen.ß"))
        #expect(ClientIdentity.claim(authorization: value) == .ntlm("CONTOSO\\jürgen.ß"))
    }

    @Test func spnegoWrappedNTLMIsFoundBySignature() {
        // A NegTokenResp around the message: ASN.1 bytes before the NTLMSSP signature.
        let wrapped: [UInt8] =
            [0xA1, 0x82, 0x01, 0x20, 0x30, 0x82, 0x01, 0x1C, 0xA2, 0x82, 0x01, 0x18, 0x04, 0x82, 0x01, 0x14]
            + Self.authenticate(domain: "CONTOSO", user: "dave")
        #expect(ClientIdentity.claim(authorization: Self.header("Negotiate", wrapped)) == .ntlm("CONTOSO\\dave"))
    }

    @Test func negotiateAndChallengeMessagesNameNobody() {
        var negotiate = Array("NTLMSSP\0".utf8) + Self.le32(1) + Self.le32(0xE208_8297)
        negotiate += [UInt8](repeating: 0, count: 56)
        #expect(ClientIdentity.claim(authorization: Self.header("NTLM", negotiate)) == nil)
        // An anonymous AUTHENTICATE (empty user) names nobody either.
        #expect(ClientIdentity.claim(authorization: Self.header("NTLM", Self.authenticate(domain: "", user: ""))) == nil)
    }

    @Test func malformedMessagesAreRefusedNotTrusted() {
        var message = Self.authenticate(domain: "CONTOSO", user: "alice")
        // The user buffer's offset points past the end.
        message.replaceSubrange(40..<44, with: Self.le32(10_000))
        #expect(ClientIdentity.claim(authorization: Self.header("NTLM", message)) == nil)
        // Truncated inside the fixed part; not base64; odd UTF-16 length.
        let truncated = Array(Self.authenticate(domain: "C", user: "a").prefix(40))
        #expect(ClientIdentity.claim(authorization: Self.header("NTLM", truncated)) == nil)
        #expect(ClientIdentity.claim(authorization: "NTLM %%%not-base64") == nil)
        var odd = Self.authenticate(domain: "CONTOSO", user: "alice")
        odd.replaceSubrange(36..<38, with: Self.le16(9))
        #expect(ClientIdentity.claim(authorization: Self.header("NTLM", odd)) == nil)
    }

    @Test func basicGivesTheUserNameAndNeverThePassword() {
        let value = "Basic " + Data("CONTOSO\\alice:S3cret:with:colons".utf8).base64EncodedString()
        #expect(ClientIdentity.claim(authorization: value) == .basic("CONTOSO\\alice"))
        #expect(ClientIdentity.claim(authorization: "basic " + Data(":onlypassword".utf8).base64EncodedString()) == nil)
    }

    @Test func bearerTokensAndKerberosNameNobody() {
        #expect(ClientIdentity.claim(authorization: "Bearer eyJhbGciOiJub25lIn0.e30.") == nil)
        // A Kerberos AP-REQ inside SPNEGO has no NTLMSSP signature.
        let kerberos = Data([0x60, 0x82, 0x02, 0x00, 0x06, 0x06, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x02]).base64EncodedString()
        #expect(ClientIdentity.claim(authorization: "Negotiate " + kerberos) == nil)
        #expect(ClientIdentity.claim(authorization: "NTLM") == nil)
    }

    @Test func aHostileUserNameIsEscapedInEveryFormat() {
        let value = Self.header("NTLM", Self.authenticate(domain: "EVIL", user: "x\r\n1970-01-01 00:00:00 forged"))
        guard case .ntlm(let user) = ClientIdentity.claim(authorization: value) else {
            Issue.record("no user")
            return
        }
        var entry = AccessLogFormatTests.full
        entry.user = user
        for format in AccessLogFormat.allCases {
            let line = AccessLog.line(for: entry, as: format, at: 0)
            #expect(line.filter { $0 == "\n" || $0 == "\r" }.count == 1, "\(format): \(line)")
        }
    }
}
