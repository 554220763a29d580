import Foundation
import Testing

@testable import MailboxSimCore

/// Extended Protection in the simulator as pure functions: the option syntax, the mode per
/// virtual directory, IIS's accept/require rules, and finding `MsvAvChannelBindings` in an
/// NTLMv2 response.
@Suite("Extended Protection rules")
struct ExtendedProtectionTests {
    @Test("a bare mode sets every service; SERVICE=MODE lists override it, by preset or virtual directory")
    func parsing() throws {
        let policy = try ExtendedProtectionPolicy.parse([
            "require", "ews=accept,Microsoft-Server-ActiveSync=accept", "autodiscover=off"
        ])
        #expect(policy == ExtendedProtectionPolicy.exchangeDefault)
        #expect(policy.mode(forTarget: "/mapi/emsmdb/?MailboxId=x") == .require)
        #expect(policy.mode(forTarget: "/ews/Exchange.asmx") == .accept)
        #expect(policy.mode(forTarget: "/Microsoft-Server-ActiveSync?Cmd=Ping") == .accept)
        #expect(policy.mode(forTarget: "/Autodiscover/Autodiscover.xml") == .off)
        #expect(policy.mode(forTarget: "/") == .require, "paths outside every service take the default")
        #expect(policy.summary == "require (activesync=accept, autodiscover=off, ews=accept)")
        #expect(try ExtendedProtectionPolicy.parse([]).isEnabled == false)
        #expect(try ExtendedProtectionPolicy.parse(["off", "ews=accept"]).isEnabled)
    }

    @Test(
        "bad values are refused naming the value",
        arguments: [
            ("sometimes", "unknown mode 'sometimes'"), ("ews=maybe", "unknown mode 'maybe'"),
            ("exchange=accept", "unknown service 'exchange'"), ("ews=accept,,mapi=off", "is not SERVICE=MODE"),
            ("=require", "is not SERVICE=MODE")
        ])
    func refusedValues(value: String, message: String) {
        do {
            _ = try ExtendedProtectionPolicy.parse([value])
            Issue.record("'\(value)' was accepted")
        } catch {
            #expect("\(error)".contains(message) && "\(error)".contains("'\(value)'"), "\(error)")
        }
    }

    @Test("require: missing, all-zero and wrong bindings are refused; accept: only a wrong one; off: nothing")
    func rules() {
        let expected = [UInt8](repeating: 0xAB, count: 16)
        let wrong = [UInt8](repeating: 0xCD, count: 16)
        let zero = [UInt8](repeating: 0, count: 16)
        func refusal(_ mode: ExtendedProtectionMode, _ presented: [UInt8]?) -> String? {
            ChannelBindingCheck.refusal(mode: mode, expected: expected, presented: presented)
        }
        #expect(refusal(.require, expected) == nil)
        #expect(refusal(.require, nil)?.contains("channel binding missing") == true)
        #expect(refusal(.require, zero)?.contains("all-zero") == true)
        #expect(
            refusal(.require, wrong)
                == "channel binding mismatch: expected \(String(repeating: "AB", count: 16)) got \(String(repeating: "CD", count: 16))")
        #expect(refusal(.accept, expected) == nil)
        #expect(refusal(.accept, nil) == nil)
        #expect(refusal(.accept, zero) == nil)
        #expect(refusal(.accept, wrong)?.hasPrefix("channel binding mismatch") == true)
        #expect(refusal(.off, wrong) == nil)
        #expect(refusal(.off, nil) == nil)
    }

    /// An NTLMv2 response: NTProofStr, the client-challenge header, then `pairs` and MsvAvEOL.
    static func ntlmV2Response(_ pairs: [(UInt16, [UInt8])], terminated: Bool = true) -> [UInt8] {
        var response = [UInt8](repeating: 0x11, count: 16) + [1, 1] + [UInt8](repeating: 0, count: 6)
        response += [UInt8](repeating: 0x22, count: 8) + [UInt8](repeating: 0x33, count: 8) + [0, 0, 0, 0]
        for (id, value) in pairs { response += le16(id) + le16(UInt16(value.count)) + value }
        if terminated { response += [0, 0, 0, 0, 0, 0, 0, 0] }
        return response
    }

    @Test("MsvAvChannelBindings is found among other AV pairs; NTLMv1 and NTLMv2 without it carry none")
    func avPairs() throws {
        let token = (0..<16).map { UInt8($0) }
        let response = Self.ntlmV2Response([(2, [0x43, 0]), (6, [2, 0, 0, 0]), (0x000A, token), (9, [0x68, 0])])
        #expect(try NTLMAuthenticate.channelBindings(inNTResponse: response) == token)
        #expect(try NTLMAuthenticate.channelBindings(inNTResponse: Self.ntlmV2Response([(2, [0x43, 0])])) == nil)
        #expect(try NTLMAuthenticate.channelBindings(inNTResponse: [UInt8](repeating: 1, count: 24)) == nil)
    }

    @Test("a truncated or malformed AV pair list is a clear error, never a crash")
    func malformedPairs() {
        let token = [UInt8](repeating: 7, count: 16)
        let unterminated = Self.ntlmV2Response([(0x000A, token)], terminated: false)
        #expect(throws: NTLMError.self) { try NTLMAuthenticate.channelBindings(inNTResponse: unterminated) }
        var overlong = Self.ntlmV2Response([(0x000A, token)])
        overlong[46] = 0xFF  // the length of the first pair now runs past the end
        #expect(throws: NTLMError.self) { try NTLMAuthenticate.channelBindings(inNTResponse: overlong) }
        let shortBinding = Self.ntlmV2Response([(0x000A, [1, 2, 3])])
        #expect(throws: NTLMError.self) { try NTLMAuthenticate.channelBindings(inNTResponse: shortBinding) }
        #expect(throws: NTLMError.self) { try NTLMAuthenticate.channelBindings(inNTResponse: [UInt8](repeating: 1, count: 30)) }
    }
}
