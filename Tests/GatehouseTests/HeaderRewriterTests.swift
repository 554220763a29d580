import NIOHTTP1
import Testing

@testable import Gatehouse

/// Request and response header rewriting between client and backend.
@Suite struct HeaderRewriterTests {
    static let client = IPAddress("203.0.113.5")!

    /// All values of `name`, in order.
    static func values(_ headers: HTTPHeaders, _ name: String) -> [String] { headers[name] }

    @Test func removesHopByHopAndNominatedHeadersButKeepsEndToEndOnes() {
        var headers = HTTPHeaders([
            ("Host", "mail.contoso.com"),
            ("Connection", "keep-alive, X-Secret, Authorization, Content-Length, Host"),
            ("connection", "Upgrade"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
            ("Trailer", "Expires"), ("Transfer-Encoding", "chunked"), ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic eDp5"), ("X-Secret", "1"), ("x-secret", "2"),
            ("Authorization", "NTLM TlRMTVNTUAABAAAAB4IIog=="), ("Content-Length", "12"),
            ("X-AnchorMailbox", "user@contoso.com"), ("X-PreferServerAffinity", "true"),
            ("Cookie", "X-BackEndCookie=S-1-5-21=u56Lnp2ejJqB; MapiContext=abc; MapiSequence=1-2"),
            ("X-RequestType", "Connect"), ("X-ClientApplication", "Outlook/16.0")
        ])
        HeaderRewriter().rewriteRequest(&headers, client: Self.client)
        for gone in [
            "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
            "proxy-authorization", "x-secret"
        ] {
            #expect(!headers.contains(name: gone), "\(gone) must be removed")
        }
        #expect(headers["Authorization"] == ["NTLM TlRMTVNTUAABAAAAB4IIog=="])
        #expect(headers["Content-Length"] == ["12"])
        #expect(headers["Host"] == ["mail.contoso.com"])
        #expect(headers["X-AnchorMailbox"] == ["user@contoso.com"])
        #expect(headers["X-PreferServerAffinity"] == ["true"])
        #expect(headers["Cookie"] == ["X-BackEndCookie=S-1-5-21=u56Lnp2ejJqB; MapiContext=abc; MapiSequence=1-2"])
        #expect(headers["X-RequestType"] == ["Connect"])
        #expect(headers["X-ClientApplication"] == ["Outlook/16.0"])
    }

    @Test func setsForwardedHeadersReplacingClientValuesByDefault() {
        var headers = HTTPHeaders([
            ("Host", "Mail.Contoso.com:443"), ("X-Forwarded-For", "1.2.3.4"), ("x-forwarded-for", "5.6.7.8"),
            ("X-Forwarded-Proto", "http"), ("X-Forwarded-Host", "evil.com"), ("Forwarded", "for=10.0.0.1")
        ])
        HeaderRewriter().rewriteRequest(&headers, client: Self.client)
        #expect(!headers.contains(name: "Forwarded"))
        #expect(headers["X-Forwarded-For"] == ["203.0.113.5"])
        #expect(headers["X-Forwarded-Proto"] == ["https"])
        #expect(headers["X-Forwarded-Host"] == ["Mail.Contoso.com:443"])
        #expect(headers["Host"] == ["Mail.Contoso.com:443"])
    }

    @Test func appendsToTrustedForwardedFor() {
        var headers = HTTPHeaders([
            ("Host", "mail.contoso.com"), ("X-Forwarded-For", "198.51.100.1"),
            ("X-Forwarded-For", "198.51.100.2, 10.0.0.1")
        ])
        HeaderRewriter(forwardedFor: .append).rewriteRequest(&headers, client: IPAddress("2001:db8::5")!)
        #expect(headers["X-Forwarded-For"] == ["198.51.100.1, 198.51.100.2, 10.0.0.1, 2001:db8::5"])

        var fresh = HTTPHeaders([("Host", "mail.contoso.com")])
        HeaderRewriter(forwardedFor: .append).rewriteRequest(&fresh, client: Self.client)
        #expect(fresh["X-Forwarded-For"] == ["203.0.113.5"])
    }

    @Test func hostCanBeSetToTheBackendName() {
        var headers = HTTPHeaders([("Host", "mail.contoso.com")])
        HeaderRewriter(host: .set("exch01.corp.contoso.com")).rewriteRequest(&headers, client: Self.client)
        #expect(headers["Host"] == ["exch01.corp.contoso.com"])
        #expect(headers["X-Forwarded-Host"] == ["mail.contoso.com"])
    }

    @Test func http2AuthorityBecomesHost() {
        var headers = HTTPHeaders([("user-agent", "Outlook")])
        HeaderRewriter().rewriteRequest(&headers, client: Self.client, originalHost: "mail.contoso.com")
        #expect(headers["Host"] == ["mail.contoso.com"])
        #expect(headers["X-Forwarded-Host"] == ["mail.contoso.com"])
    }

    @Test func noHostMeansNoForwardedHost() {
        var headers = HTTPHeaders([("X-Forwarded-Host", "evil.com")])
        HeaderRewriter().rewriteRequest(&headers, client: Self.client)
        #expect(!headers.contains(name: "X-Forwarded-Host"))
    }

    @Test func responseLosesHopByHopOnly() {
        var headers = HTTPHeaders([
            ("Connection", "close, X-Internal"), ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"),
            ("Upgrade", "h2c"), ("Trailer", "X"), ("Proxy-Authenticate", "Basic"), ("X-Internal", "1"),
            ("Content-Type", "application/mapi-http"), ("Set-Cookie", "X-BackEndCookie=abc; path=/"),
            ("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM"), ("X-CalculatedBETarget", "exch01")
        ])
        HeaderRewriter().rewriteResponse(&headers)
        for gone in ["connection", "keep-alive", "transfer-encoding", "upgrade", "trailer", "proxy-authenticate", "x-internal"] {
            #expect(!headers.contains(name: gone), "\(gone) must be removed")
        }
        #expect(headers["Content-Type"] == ["application/mapi-http"])
        #expect(headers["Set-Cookie"] == ["X-BackEndCookie=abc; path=/"])
        #expect(headers["WWW-Authenticate"] == ["Negotiate", "NTLM"])
        #expect(headers["X-CalculatedBETarget"] == ["exch01"])
    }

    @Test func headersWithoutHopByHopAreUntouchedOnResponse() {
        let original = HTTPHeaders([("Content-Length", "5"), ("Content-Type", "text/html")])
        var headers = original
        HeaderRewriter().rewriteResponse(&headers)
        #expect(headers == original)
    }
}
