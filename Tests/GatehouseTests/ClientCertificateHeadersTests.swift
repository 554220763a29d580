import GatehouseTLS
import NIOHTTP1
import Testing

@testable import Gatehouse

/// `X-Client-Cert-*` towards the backend: a client's own are always removed (a security property:
/// a backend trusting them must never see a client's claim), Gatehouse's added only for a verified
/// certificate; and a route's `client_certificate: required` decision.
@Suite struct ClientCertificateHeadersTests {
    static let verified = VerifiedClientCertificate(
        subject: "CN=alice,OU=Staff,O=Contoso", issuer: "CN=Contoso Device CA,O=Contoso",
        serialNumber: "1A2B", sha256Thumbprint: String(repeating: "AB", count: 32))

    /// A client's request carrying forged certificate headers in every spelling.
    static func spoofed() -> HTTPHeaders {
        HTTPHeaders([
            ("Host", "mail.contoso.com"), ("X-Client-Cert-Subject", "CN=administrator"),
            ("x-client-cert-sha256", "00"), ("X-CLIENT-CERT-VERIFIED", "SUCCESS"), ("X-Client-Cert", "forged"),
            ("x-Client-Cert-Issuer", "CN=evil"), ("X-Client-Cert-Serial", "1"), ("X-Client-Certificate", "x"),
            ("X-Client-IP", "10.0.0.1"), ("X-Client", "kept"), ("Authorization", "Basic eDp5")
        ])
    }

    @Test func clientHeadersAreRemovedWithoutACertificate() {
        var headers = Self.spoofed()
        HeaderRewriter().rewriteRequest(&headers, client: IPAddress("203.0.113.5")!)
        for (name, _) in headers {
            #expect(!name.lowercased().hasPrefix("x-client-cert"), "\(name) must not reach the backend")
        }
        #expect(headers["X-Client-IP"] == ["10.0.0.1"])
        #expect(headers["X-Client"] == ["kept"])
        #expect(headers["Authorization"] == ["Basic eDp5"])
    }

    @Test func aVerifiedCertificateReplacesTheClientsHeaders() {
        var headers = Self.spoofed()
        HeaderRewriter().rewriteRequest(&headers, clientText: "203.0.113.5", clientCertificate: Self.verified)
        #expect(headers["X-Client-Cert-Verified"] == ["SUCCESS"])
        #expect(headers["X-Client-Cert-Subject"] == ["CN=alice,OU=Staff,O=Contoso"])
        #expect(headers["X-Client-Cert-Issuer"] == ["CN=Contoso Device CA,O=Contoso"])
        #expect(headers["X-Client-Cert-Serial"] == ["1A2B"])
        #expect(headers["X-Client-Cert-SHA256"] == [String(repeating: "AB", count: 32)])
        let certificateHeaders = headers.filter { $0.name.lowercased().hasPrefix("x-client-cert") }
        #expect(certificateHeaders.count == 5, "\(certificateHeaders)")
        #expect(headers["X-Client-Certificate"].isEmpty)
    }

    @Test(arguments: [
        ("X-Client-Cert", true), ("x-client-cert-anything", true), ("X-CLIENT-CERTIFICATE", true),
        ("X-Client-Cer", false), ("X-Client-IP", false), ("Y-Client-Cert", false), ("", false)
    ])
    func prefixMatchIgnoresCase(name: String, stripped: Bool) {
        #expect(ClientCertificateHeaders.isClientCertificateHeader(name) == stripped)
    }

    static let open = RoutePolicy(poolIndex: 0, name: "contoso/owa", idleTimeout: .seconds(60), maxBodyBytes: 1 << 20)
    static var guarded: RoutePolicy {
        var policy = RoutePolicy(poolIndex: 1, name: "contoso/activesync", idleTimeout: .seconds(60), maxBodyBytes: 1 << 20)
        policy.requiresClientCertificate = true
        return policy
    }

    static func facts(_ certificate: VerifiedClientCertificate?) -> ClientConnectionFacts {
        var facts = ClientConnectionFacts(
            clientIP: IPAddress("203.0.113.5"), isTLS: true, serverName: "mail.contoso.com", certificateCovers: { _ in true })
        facts.clientCertificate = certificate
        return facts
    }

    @Test func routeRequirementDecision() throws {
        let refusal = try #require(ClientCertificateRequirement.refusal(policy: Self.guarded, connection: Self.facts(nil)))
        #expect(refusal.status == .forbidden)
        #expect(refusal.body.contains("requires a client certificate"))
        #expect(refusal.reason.contains("contoso/activesync requires a verified client certificate"))
        #expect(ClientCertificateRequirement.refusal(policy: Self.guarded, connection: Self.facts(Self.verified)) == nil)
        #expect(ClientCertificateRequirement.refusal(policy: Self.open, connection: Self.facts(nil)) == nil)
    }

    /// Through the router: a forged header never counts as a certificate; the verified one is forwarded.
    @Test func routerRefusesWithoutAVerifiedCertificateAndForwardsWithOne() throws {
        let table = try RoutingTable(services: [
            .init(
                name: "contoso", hosts: ["mail.contoso.com"],
                routes: [.init(prefix: "/owa/", id: 0), .init(prefix: "/Microsoft-Server-ActiveSync", id: 1)],
                redirectRootTo: nil)
        ])
        let router = ExchangeRouter(table: table, policies: [Self.open, Self.guarded])
        func decide(_ uri: String, _ certificate: VerifiedClientCertificate?) -> ProxyDecision {
            router.decide(
                head: HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: Self.spoofed()),
                connection: Self.facts(certificate))
        }
        guard case .respond(let refusal) = decide("/Microsoft-Server-ActiveSync", nil) else {
            Issue.record("a request without a certificate must be refused")
            return
        }
        #expect(refusal.status == .forbidden)
        guard case .forward(_, let head, _) = decide("/Microsoft-Server-ActiveSync", Self.verified) else {
            Issue.record("a request with a verified certificate must be forwarded")
            return
        }
        #expect(head.headers["X-Client-Cert-Subject"] == ["CN=alice,OU=Staff,O=Contoso"])
        guard case .forward(_, let plain, _) = decide("/owa/", nil) else {
            Issue.record("a route without the requirement forwards")
            return
        }
        #expect(plain.headers.filter { $0.name.lowercased().hasPrefix("x-client-cert") }.isEmpty)
    }
}
