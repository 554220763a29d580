import NIOHTTP1
import Testing

@testable import Gatehouse

/// Request-target canonicalisation: what is accepted and what it becomes, and what is refused and why.
@Suite struct RoutingCanonicalTargetTests {
    /// An accepted target: input, expected decoded path, query and the target the backend receives.
    struct Accepted: Sendable, CustomTestStringConvertible {
        var target: String
        var path: String
        var query: String?
        var forward: String
        var testDescription: String { target }
    }

    static let accepted: [Accepted] = [
        .init(target: "/", path: "/", query: nil, forward: "/"),
        .init(target: "/owa/", path: "/owa/", query: nil, forward: "/owa/"),
        .init(
            target: "/owa/auth/logon.aspx?url=https%3a%2f%2fmail%2fowa%2f&reason=0", path: "/owa/auth/logon.aspx",
            query: "url=https%3a%2f%2fmail%2fowa%2f&reason=0", forward: "/owa/auth/logon.aspx?url=https%3a%2f%2fmail%2fowa%2f&reason=0"),
        .init(target: "/owa/%2e%2e/ecp", path: "/ecp", query: nil, forward: "/ecp"),
        .init(target: "/OWA/./../EcP/", path: "/EcP/", query: nil, forward: "/EcP/"),
        .init(target: "/owa/%2E%2E/%2e%2e/../ecp/", path: "/ecp/", query: nil, forward: "/ecp/"),
        .init(target: "/owa//../ecp", path: "/ecp", query: nil, forward: "/ecp"),
        .init(target: "//ecp///default.aspx", path: "/ecp/default.aspx", query: nil, forward: "/ecp/default.aspx"),
        .init(target: "/owa/..", path: "/", query: nil, forward: "/"),
        .init(target: "/owa/.", path: "/owa/", query: nil, forward: "/owa/"),
        .init(target: "/a/b/../../../../c", path: "/c", query: nil, forward: "/c"),
        .init(target: "/EWS/Exchange.asmx", path: "/EWS/Exchange.asmx", query: nil, forward: "/EWS/Exchange.asmx"),
        .init(target: "/%45WS/Exchange.asmx", path: "/EWS/Exchange.asmx", query: nil, forward: "/EWS/Exchange.asmx"),
        .init(target: "/owa/My%20Files/x", path: "/owa/My Files/x", query: nil, forward: "/owa/My%20Files/x"),
        .init(target: "/owa/caf%C3%A9", path: "/owa/café", query: nil, forward: "/owa/caf%C3%A9"),
        .init(target: "/owa/a%3Fb", path: "/owa/a?b", query: nil, forward: "/owa/a%3Fb"),
        .init(
            target: "/rpc/rpcproxy.dll?mail.contoso.com:6001", path: "/rpc/rpcproxy.dll",
            query: "mail.contoso.com:6001", forward: "/rpc/rpcproxy.dll?mail.contoso.com:6001"),
        .init(
            target: "/mapi/emsmdb/?MailboxId=0c5f@contoso.com", path: "/mapi/emsmdb/",
            query: "MailboxId=0c5f@contoso.com", forward: "/mapi/emsmdb/?MailboxId=0c5f@contoso.com"),
        .init(target: "/owa/?", path: "/owa/", query: "", forward: "/owa/?"),
        .init(target: "/x?a=%252e%2F", path: "/x", query: "a=%252e%2F", forward: "/x?a=%252e%2F"),
        .init(target: "https://mail.contoso.com/owa/?a=1", path: "/owa/", query: "a=1", forward: "/owa/?a=1"),
        .init(target: "HTTPS://MAIL.contoso.com:443/owa/../ecp", path: "/ecp", query: nil, forward: "/ecp"),
        .init(target: "https://mail.contoso.com", path: "/", query: nil, forward: "/"),
        .init(target: "https://mail.contoso.com?x=1", path: "/", query: "x=1", forward: "/?x=1")
    ]

    @Test(arguments: accepted)
    func acceptsAndCanonicalises(_ c: Accepted) throws {
        let target = try CanonicalTarget(requestTarget: c.target, method: .GET, host: "mail.contoso.com")
        #expect(target.path == c.path)
        #expect(target.lowercasedPath == c.path.lowercased())
        #expect(target.query == c.query)
        #expect(target.forwardTarget == c.forward)
    }

    /// A refused target and the reason that must be reported.
    struct Rejected: Sendable, CustomTestStringConvertible {
        var target: String
        var reason: RequestTargetRejection.Reason
        var method: HTTPMethod = .GET
        var testDescription: String { "\(target) -> \(reason.rawValue)" }
    }

    static let rejected: [Rejected] = [
        .init(target: "", reason: .empty),
        .init(target: "owa/", reason: .unsupportedForm),
        .init(target: "mail.contoso.com:443", reason: .unsupportedForm, method: .CONNECT),
        .init(target: "ftp://mail.contoso.com/owa/", reason: .unsupportedForm),
        .init(target: "*", reason: .asteriskNotOptions),
        .init(target: "**", reason: .unsupportedForm, method: .OPTIONS),
        .init(target: "/owa/%2F..%2Fecp", reason: .encodedSlash),
        .init(target: "/owa/%2f", reason: .encodedSlash),
        .init(target: "/owa/%5C..%5Cecp", reason: .encodedBackslash),
        .init(target: "/owa\\..\\ecp", reason: .backslash),
        .init(target: "/owa/?a=\\", reason: .backslash),
        .init(target: "/owa/%00.js", reason: .encodedNul),
        .init(target: "/owa/?a=%00", reason: .encodedNul),
        .init(target: "/owa/%252e%252e/ecp", reason: .doubleEncoding),
        .init(target: "/owa/%25", reason: .doubleEncoding),
        .init(target: "/owa/%2", reason: .invalidPercentEncoding),
        .init(target: "/owa/%zz", reason: .invalidPercentEncoding),
        .init(target: "/owa/?a=%g1", reason: .invalidPercentEncoding),
        .init(target: "/owa/?a=%", reason: .invalidPercentEncoding),
        .init(target: "/owa/\u{1}", reason: .controlCharacter),
        .init(target: "/owa/a b", reason: .controlCharacter),
        .init(target: "/owa/\u{7F}", reason: .controlCharacter),
        .init(target: "/owa/%0d%0aX:1", reason: .controlCharacter),
        .init(target: "/owa/?a=b c", reason: .controlCharacter),
        .init(target: "/owa/é", reason: .nonASCII),
        .init(target: "/owa/?q=é", reason: .nonASCII),
        .init(target: "/owa/%C3", reason: .invalidUTF8),
        .init(target: "/owa/%FF%FE", reason: .invalidUTF8),
        .init(target: "/owa/#x", reason: .fragment),
        .init(target: "/ecp./default.aspx", reason: .trailingDotOrSpace),
        .init(target: "/ecp%20/default.aspx", reason: .trailingDotOrSpace),
        .init(target: "/owa/...", reason: .trailingDotOrSpace),
        .init(target: "https://evil.com/owa/", reason: .hostMismatch),
        .init(target: "https://mail.contoso.com.evil.com/owa/", reason: .hostMismatch),
        .init(target: "https://mail.contoso.com@evil.com/owa/", reason: .malformedAuthority),
        .init(target: "https:///owa/", reason: .malformedAuthority),
        .init(target: "https://mail.contoso.com:44x/", reason: .malformedAuthority)
    ]

    @Test(arguments: rejected)
    func rejectsWithReason(_ c: Rejected) {
        #expect(throws: RequestTargetRejection(c.reason)) {
            try CanonicalTarget(requestTarget: c.target, method: c.method, host: "mail.contoso.com")
        }
    }

    @Test func asteriskOnlyForOptions() throws {
        let target = try CanonicalTarget(requestTarget: "*", method: .OPTIONS, host: "mail.contoso.com")
        #expect(target.form == .asterisk)
        #expect(target.forwardTarget == "*")
    }

    @Test func absoluteFormForSameHostBecomesOriginForm() throws {
        let target = try CanonicalTarget(
            requestTarget: "https://Mail.Contoso.com./EWS/Exchange.asmx", method: .POST, host: "mail.contoso.com:443")
        #expect(target.form == .absolute)
        #expect(target.forwardTarget == "/EWS/Exchange.asmx")
    }

    @Test func absoluteFormWithoutHostHeaderIsRefused() {
        #expect(throws: RequestTargetRejection(.hostMismatch)) {
            try CanonicalTarget(requestTarget: "https://mail.contoso.com/owa/", method: .GET, host: nil)
        }
    }

    @Test func canonicalFormIsAFixedPoint() throws {
        // Canonicalising what we forward must give the same thing: no second reading differs.
        for c in Self.accepted {
            let once = try CanonicalTarget(requestTarget: c.target, method: .GET, host: "mail.contoso.com")
            let twice = try CanonicalTarget(requestTarget: once.forwardTarget, method: .GET, host: "mail.contoso.com")
            #expect(twice.path == once.path)
            #expect(twice.forwardTarget == once.forwardTarget)
        }
    }
}
