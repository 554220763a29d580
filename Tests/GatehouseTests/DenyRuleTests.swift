import NIOHTTP1
import Testing

@testable import Gatehouse

/// The Exchange deny rules against the published attack shapes and their legitimate look-alikes.
///
/// Each case lists exactly which rules fire when evaluated one at a time, so a rule that misses an
/// attack or catches a legitimate request fails the test, as does a rule that fires where it should not.
@Suite struct DenyRuleTests {
    static let external = IPAddress("203.0.113.5")!
    static let admin = IPAddress("10.1.2.3")!
    static let adminMapped = IPAddress("::ffff:10.1.2.3")!
    static let adminNetworks = [try! IPNetwork("10.0.0.0/8"), try! IPNetwork("2001:db8:ad::/48")]

    /// One request and the rules that must fire on it.
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var method: HTTPMethod = .GET
        var target: String
        var headers: [(String, String)] = []
        var client: IPAddress = DenyRuleTests.external
        var fires: Set<DenyRule>
        var testDescription: String { label }
    }

    static let proxyShell =
        "/autodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com"
    static let proxyNotShell =
        "/autodiscover/autodiscover.json?@evil.com/owa/&Email=autodiscover/autodiscover.json?@evil.com&Protocol=XYZ&FooProtocol=Powershell"

    static let attacks: [Case] = [
        // ProxyShell (CVE-2021-34473/34523/31207), as published.
        .init(label: "ProxyShell mapi/nspi", method: .POST, target: proxyShell, fires: [.proxyshellAutodiscover]),
        .init(
            label: "ProxyShell EWS", method: .POST,
            target: "/autodiscover/autodiscover.json?@evil.com/EWS/exchange.asmx?&Email=autodiscover/autodiscover.json%3F@evil.com",
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "ProxyShell powershell with X-Rps-CAT", method: .POST,
            target:
                "/autodiscover/autodiscover.json?@evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z&Email=autodiscover/autodiscover.json%3F@evil.com",
            fires: [.autodiscoverPowershell, .proxyshellAutodiscover, .rpsCAT]),
        .init(
            label: "ProxyShell powershell, parameter before @", method: .POST,
            target: "/autodiscover/autodiscover.json?a=dsxvu@fnsso.flq/powershell/?X-Rps-CAT=VgEAVAdX",
            fires: [.autodiscoverPowershell, .proxyshellAutodiscover, .rpsCAT]),
        .init(
            label: "ProxyShell, Email in a cookie",
            target: "/autodiscover/autodiscover.json?x=1", headers: [("Cookie", "Email=autodiscover/autodiscover.json%3F@evil.com")],
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "ProxyShell, Email cookie among others, odd case",
            target: "/autodiscover/autodiscover.json", headers: [("cookie", "a=b; eMaIl=AutoDiscover%2Fx; c=d")],
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "query starting with @", target: "/autodiscover/autodiscover.json?@evil.com&Email=x",
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "query starting with encoded @", target: "/autodiscover/autodiscover.json?%40evil.com",
            fires: [.proxyshellAutodiscover]),
        // Case, encoding and dot-segment variants of the same shape.
        .init(
            label: "ProxyShell upper case and %40", method: .POST,
            target: "/AutoDiscover/AUTODISCOVER.JSON?%40evil.com/MAPI/nspi/?&EMAIL=AutoDiscover/autodiscover.json%3f%40evil.com",
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "ProxyShell encoded path letters", target: "/%61utodiscover/%61utodiscover%2Ejson?@evil.com/mapi/nspi/",
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "ProxyShell behind dot-segments", target: "/owa/../autodiscover/./autodiscover.json?@evil.com/mapi/nspi/",
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "& hidden as %26 before Email", target: "/autodiscover/autodiscover.json?x=1%26Email=autodiscover%2fx",
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "? hidden in the path as %3F", target: "/autodiscover/autodiscover.json%3F@evil.com",
            fires: [.proxyshellAutodiscover]),
        .init(
            label: "path segment starting with @", target: "/autodiscover/autodiscover.json/@evil.com",
            fires: [.proxyshellAutodiscover]),
        // ProxyNotShell (CVE-2022-41040/41082), as published, and the mitigation bypasses.
        .init(label: "ProxyNotShell", target: proxyNotShell, fires: [.autodiscoverPowershell, .proxyshellAutodiscover]),
        .init(
            label: "ProxyNotShell without @, %50owershell",
            target:
                "/autodiscover/autodiscover.json?a..foo.var/owa/?&Email=autodiscover/autodiscover.json?a..foo.var&Protocol=XYZ&FooProtocol=%50owershell",
            fires: [.autodiscoverPowershell, .proxyshellAutodiscover]),
        .init(
            label: "ProxyNotShell double-encoded P",
            target:
                "/autodiscover/autodiscover.json?a..foo.var/owa/?&Email=autodiscover/autodiscover.json?a..foo.var&Protocol=XYZ&FooProtocol=%2550owershell",
            fires: [.autodiscoverPowershell, .proxyshellAutodiscover]),
        .init(
            label: "autodiscover + powershell in the path", target: "/Autodiscover/x/../PowerShell/",
            fires: [.autodiscoverPowershell, .externalPowershell]),
        // PowerShell below the root is no admin's path: the admin-network exemption is for `/powershell` only.
        .init(
            label: "autodiscover + powershell in the path, from an admin network", target: "/Autodiscover/x/../PowerShell/",
            client: admin, fires: [.autodiscoverPowershell, .externalPowershell]),
        // OWASSRF (CVE-2022-41080) and other PowerShell paths.
        .init(
            label: "OWASSRF", method: .POST, target: "/owa/mastermailbox%40outlook.com/powershell",
            fires: [.explicitLogonVdir, .externalPowershell]),
        .init(
            label: "OWASSRF from an admin network", method: .POST, target: "/owa/mastermailbox%40outlook.com/powershell",
            client: admin, fires: [.explicitLogonVdir, .externalPowershell]),
        .init(
            label: "PowerShell direct", target: "/PowerShell/?serializationLevel=Full;clientApplication=x",
            fires: [.externalPowershell]),
        .init(label: "PowerShell behind encoded dot-segments", target: "/owa/%2e%2e/%50owershell", fires: [.externalPowershell]),
        .init(label: "PowerShell-LiveID", target: "/powershell-liveid/", fires: [.externalPowershell]),
        // Forged token.
        .init(label: "X-Rps-CAT header", target: "/owa/", headers: [("X-Rps-CAT", "VgEAVAdXaW5kb3dz")], fires: [.rpsCAT]),
        .init(
            label: "X-Rps-CAT header to powershell from admin", target: "/powershell", headers: [("x-rps-cat", "x")],
            client: admin, fires: [.rpsCAT]),
        .init(label: "X-Rps-CAT query", target: "/powershell?X-Rps-CAT=VgEA", client: admin, fires: [.rpsCAT]),
        .init(label: "X-Rps-CAT query, encoded", target: "/owa/?a=1&X%2dRps%2DCAT=VgEA", fires: [.rpsCAT]),
        // ProxyLogon (CVE-2021-26855).
        .init(
            label: "ProxyLogon X-BEResource", method: .POST, target: "/ecp/y.js",
            headers: [("Cookie", "X-BEResource=Administrator@EXCHANGE:444/autodiscover/autodiscover.xml?a=~1942062522;")],
            client: admin, fires: [.beResource]),
        .init(
            label: "ProxyLogon X-BEResource from outside", method: .POST, target: "/ecp/y.js",
            headers: [("Cookie", "X-BEResource=Administrator@EXCHANGE:444/ecp/proxyLogon.ecp?a=~1942062522;")],
            fires: [.beResource, .ecpAdminOnly]),
        .init(
            label: "ProxyLogon anonymous resource", target: "/owa/auth/x.js",
            headers: [
                (
                    "Cookie",
                    "X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-BEResource=localhost/owa/auth/logon.aspx?~3;"
                )
            ],
            fires: [.anonResourceBackend, .beResource]),
        .init(
            label: "X-AnonResource-Backend header", target: "/owa/auth/x.js",
            headers: [("X-AnonResource-Backend", "localhost/ecp/default.flt?~3")], fires: [.anonResourceBackend]),
        .init(
            label: "X-BEResource, lower-case name, encoded slash", target: "/owa/auth/x.js",
            headers: [("cookie", "x-beresource=localhost%2Fecp~1")], fires: [.beResource]),
        .init(
            label: "X-BEResource in a second cookie header (h2 style)", target: "/owa/",
            headers: [("cookie", "a=b"), ("cookie", "X-BEResource=ex01\\owa~1")], fires: [.beResource]),
        // The admin centre.
        .init(label: "ECP from outside", target: "/ecp/", fires: [.ecpAdminOnly]),
        .init(label: "ECP, no slash, upper case", target: "/ECP", fires: [.ecpAdminOnly]),
        .init(label: "ECP behind dot-segments", target: "/owa/%2e%2e/ecp/default.aspx", fires: [.ecpAdminOnly]),
        .init(label: "ECP behind //", target: "//ecp//x", fires: [.ecpAdminOnly]),
        .init(label: "ECP with path parameters", target: "/ecp;jsessionid=1/default.aspx", fires: [.ecpAdminOnly])
    ]

    static let legitimate: [Case] = [
        .init(
            label: "autodiscover.json v2 query form",
            target: "/autodiscover/autodiscover.json?Email=user@contoso.com&Protocol=ActiveSync", fires: []),
        .init(
            label: "autodiscover.json v2 path form", target: "/autodiscover/autodiscover.json/v1.0/user@contoso.com?Protocol=EWS",
            fires: []),
        .init(
            label: "autodiscover.json with encoded @ and RedirectCount",
            target: "/Autodiscover/Autodiscover.json?Email=user%40contoso.com&Protocol=AutodiscoverV1&RedirectCount=1", fires: []),
        .init(
            label: "autodiscover.json with a legitimate Email cookie",
            target: "/autodiscover/autodiscover.json?Email=user@contoso.com&Protocol=EWS",
            headers: [("Cookie", "Email=user@contoso.com")], fires: []),
        .init(label: "autodiscover.xml POST", method: .POST, target: "/Autodiscover/Autodiscover.xml", fires: []),
        .init(
            label: "X-BEResource server~version", target: "/owa/",
            headers: [("Cookie", "X-BEResource=EXCH01.contoso.com~1942062522; X-BackEndCookie=S-1-5-21=u56Lnp2ejJqBzZ3I")], fires: []),
        .init(
            label: "EWS with affinity headers", method: .POST, target: "/EWS/Exchange.asmx",
            headers: [
                ("X-AnchorMailbox", "user@contoso.com"), ("X-PreferServerAffinity", "true"),
                ("Cookie", "X-BackEndOverrideCookie=EXCH01.contoso.com~1942062522")
            ], fires: []),
        .init(
            label: "MAPI", method: .POST, target: "/mapi/emsmdb/?MailboxId=0c5f2a9c@contoso.com",
            headers: [("X-RequestType", "Connect"), ("Cookie", "MapiContext=abc; MapiSequence=1-2")], fires: []),
        .init(
            label: "OWA logon returning to ECP", target: "/owa/auth/logon.aspx?url=https%3a%2f%2fmail.contoso.com%2fecp%2f&reason=0",
            fires: []),
        .init(label: "OWA look-alike names", target: "/owa/powerpoint.aspx?x=autodiscover", fires: []),
        .init(label: "ecpx is not ecp", target: "/ecpx/", fires: []),
        .init(label: "ECP from an admin network", target: "/ecp/default.aspx", client: admin, fires: []),
        .init(label: "ECP from an IPv4-mapped admin", target: "/ecp/", client: adminMapped, fires: []),
        .init(label: "ECP from an IPv6 admin", target: "/ecp/", client: IPAddress("2001:db8:ad::7")!, fires: []),
        .init(label: "PowerShell from an admin network", target: "/PowerShell/", client: admin, fires: []),
        .init(label: "mailbox whose address starts with powershell", target: "/owa/powershell-team@contoso.com/", fires: []),
        .init(
            label: "ActiveSync Ping", method: .POST,
            target: "/Microsoft-Server-ActiveSync?Cmd=Ping&User=user%40contoso.com&DeviceId=ABC&DeviceType=iPhone", fires: [])
    ]

    /// Which rules fire when each is evaluated on its own.
    static func firing(_ c: Case) throws -> Set<DenyRule> {
        let target = try CanonicalTarget(requestTarget: c.target, method: c.method, host: "mail.contoso.com")
        let headers = HTTPHeaders(c.headers)
        var fired = Set<DenyRule>()
        for rule in DenyRule.allCases {
            let verdict = DenyRuleSet([rule]).firstViolation(
                method: c.method, target: target, headers: headers, client: c.client, adminNetworks: adminNetworks)
            if let verdict {
                #expect(verdict == rule)
                fired.insert(verdict)
            }
        }
        return fired
    }

    @Test(arguments: attacks)
    func attackIsBlocked(_ c: Case) throws {
        #expect(try Self.firing(c) == c.fires)
        let target = try CanonicalTarget(requestTarget: c.target, method: c.method, host: "mail.contoso.com")
        let first = DenyRuleSet.all.firstViolation(
            method: c.method, target: target, headers: HTTPHeaders(c.headers), client: c.client,
            adminNetworks: Self.adminNetworks)
        // With every rule on, the first firing rule in declaration order is reported.
        #expect(first == DenyRule.allCases.first(where: c.fires.contains))
    }

    @Test(arguments: legitimate)
    func lookAlikeIsAllowed(_ c: Case) throws {
        #expect(try Self.firing(c) == [])
        let target = try CanonicalTarget(requestTarget: c.target, method: c.method, host: "mail.contoso.com")
        #expect(
            DenyRuleSet.all.firstViolation(
                method: c.method, target: target, headers: HTTPHeaders(c.headers), client: c.client,
                adminNetworks: Self.adminNetworks) == nil)
    }

    @Test func switchedOffRuleDoesNotFire() throws {
        var rules = DenyRuleSet.all
        rules.remove(.ecpAdminOnly)
        #expect(!rules.contains(.ecpAdminOnly) && rules.contains(.beResource))
        let ecp = try CanonicalTarget(requestTarget: "/ecp/", method: .GET, host: nil)
        #expect(rules.firstViolation(method: .GET, target: ecp, headers: [:], client: Self.external, adminNetworks: []) == nil)
        #expect(
            DenyRuleSet.all.firstViolation(method: .GET, target: ecp, headers: [:], client: Self.external, adminNetworks: [])
                == .ecpAdminOnly)
        #expect(DenyRuleSet.none.rules.isEmpty)
        #expect(DenyRuleSet.all.rules == DenyRule.allCases)
    }

    @Test func emptyAdminNetworksAdmitNobody() throws {
        let target = try CanonicalTarget(requestTarget: "/powershell", method: .GET, host: nil)
        #expect(
            DenyRuleSet.all.firstViolation(method: .GET, target: target, headers: [:], client: Self.admin, adminNetworks: [])
                == .externalPowershell)
    }

    @Test func ruleNamesAreStable() {
        #expect(
            DenyRule.allCases.map(\.rawValue) == [
                "autodiscover_powershell", "proxyshell_autodiscover", "rps_cat", "anon_resource_backend", "be_resource",
                "explicit_logon_vdir", "external_powershell", "ecp_admin_only"
            ])
    }
}
