import NIOHTTP1
import Testing

@testable import Gatehouse

/// Host -> virtual service and path -> route decisions.
@Suite struct RoutingTableTests {
    static let owa = 1, ecp = 2, ews = 3, activeSync = 4, mapi = 5, autodiscover = 6, owaAuth = 7, rpc = 8
    static let catchAll = 9, localhost = 10

    static func table() throws -> RoutingTable {
        try RoutingTable(services: [
            .init(
                name: "mail", hosts: ["mail.contoso.com", "Webmail.Contoso.com"],
                routes: [
                    .init(prefix: "/owa/", id: owa), .init(prefix: "/ecp/", id: ecp), .init(prefix: "/EWS/", id: ews),
                    .init(prefix: "/Microsoft-Server-ActiveSync", id: activeSync), .init(prefix: "/mapi/", id: mapi),
                    .init(prefix: "/owa/auth/", id: owaAuth), .init(prefix: "/rpc/rpcproxy.dll", id: rpc)
                ],
                redirectRootTo: "/owa/"),
            .init(
                name: "autodiscover", hosts: ["autodiscover.contoso.com"],
                routes: [.init(prefix: "/", id: catchAll), .init(prefix: "/Autodiscover/", id: autodiscover)]),
            .init(name: "local", hosts: ["[::1]", "127.0.0.1"], routes: [.init(prefix: "/", id: localhost)])
        ])
    }

    /// Host header -> service index (nil: unknown or malformed).
    @Test(
        arguments: [
            ("mail.contoso.com", 0), ("MAIL.Contoso.COM", 0), ("mail.contoso.com:443", 0), ("mail.contoso.com.", 0),
            ("mail.contoso.com.:8443", 0), ("webmail.contoso.com", 0), ("autodiscover.contoso.com", 1),
            ("[::1]:8443", 2), ("[::1]", 2), ("127.0.0.1:443", 2),
            ("other.contoso.com", nil), ("contoso.com", nil), ("mail.contoso.com..", nil), ("", nil),
            ("mail.contoso.com:abc", nil), ("[::1", nil), ("user@mail.contoso.com", nil), ("mail contoso.com", nil)
        ] as [(String, Int?)])
    func hostSelectsService(host: String, expected: Int?) throws {
        #expect(try Self.table().service(forHost: host) == expected)
    }

    /// Path -> decision on the `mail` service.
    @Test(
        arguments: [
            ("/", RouteDecision.redirect(location: "/owa/")),
            ("/?x=1", .redirect(location: "/owa/")),
            ("/owa", .route(id: owa)), ("/owa/", .route(id: owa)), ("/OWA/", .route(id: owa)),
            ("/owa/service.svc?action=GetItem", .route(id: owa)), ("/owax", .notFound), ("/owa.aspx", .notFound),
            ("/owa/auth/logon.aspx", .route(id: owaAuth)), ("/OWA/AUTH", .route(id: owaAuth)), ("/owa/authx", .route(id: owa)),
            ("/ecp/", .route(id: ecp)), ("/owa/%2e%2e/ecp", .route(id: ecp)), ("/OWA/./../EcP/", .route(id: ecp)),
            ("/ews/exchange.asmx", .route(id: ews)),
            ("/Microsoft-Server-ActiveSync", .route(id: activeSync)),
            ("/microsoft-server-activesync?Cmd=Ping&User=a&DeviceId=b&DeviceType=c", .route(id: activeSync)),
            ("/Microsoft-Server-ActiveSync/default.eas", .route(id: activeSync)),
            ("/Microsoft-Server-ActiveSyncX", .notFound), ("/Microsoft-Server-ActiveSync.x", .notFound),
            ("/rpc/rpcproxy.dll?mail:6001", .route(id: rpc)), ("/rpc/rpcproxy.dllx", .notFound),
            ("/mapi/emsmdb/?MailboxId=x@contoso.com", .route(id: mapi)),
            ("/powershell", .notFound), ("//owa//", .route(id: owa))
        ] as [(String, RouteDecision)])
    func pathSelectsRoute(target: String, expected: RouteDecision) throws {
        let canonical = try CanonicalTarget(requestTarget: target, method: .GET, host: "mail.contoso.com")
        #expect(try Self.table().match(serviceIndex: 0, target: canonical) == expected)
    }

    @Test func longestPrefixBeatsCatchAllAndRootIsNotRedirectedWithoutSetting() throws {
        let table = try Self.table()
        let json = try CanonicalTarget(requestTarget: "/autodiscover/autodiscover.json?Email=a@b.c", method: .GET, host: nil)
        #expect(table.match(serviceIndex: 1, target: json) == .route(id: Self.autodiscover))
        let root = try CanonicalTarget(requestTarget: "/", method: .GET, host: nil)
        #expect(table.match(serviceIndex: 1, target: root) == .route(id: Self.catchAll))
        let other = try CanonicalTarget(requestTarget: "/anything", method: .GET, host: nil)
        #expect(table.match(serviceIndex: 1, target: other) == .route(id: Self.catchAll))
    }

    @Test func asteriskMatchesNoRoute() throws {
        let star = try CanonicalTarget(requestTarget: "*", method: .OPTIONS, host: nil)
        #expect(try Self.table().match(serviceIndex: 2, target: star) == .notFound)
    }

    @Test(arguments: [
        [
            RoutingTable.Service(name: "a", hosts: ["mail.contoso.com"], routes: []),
            RoutingTable.Service(name: "b", hosts: ["MAIL.contoso.com."], routes: [])
        ],
        [RoutingTable.Service(name: "a", hosts: ["x.contoso.com", "x.contoso.com:443"], routes: [])],
        [RoutingTable.Service(name: "a", hosts: ["bad host"], routes: [])],
        [RoutingTable.Service(name: "a", hosts: ["a.b"], routes: [.init(prefix: "owa/", id: 1)])],
        [RoutingTable.Service(name: "a", hosts: ["a.b"], routes: [.init(prefix: "/owa/../ecp", id: 1)])],
        [RoutingTable.Service(name: "a", hosts: ["a.b"], routes: [.init(prefix: "/owa%2f", id: 1)])],
        [RoutingTable.Service(name: "a", hosts: ["a.b"], routes: [.init(prefix: "/owa", id: 1), .init(prefix: "/OWA/", id: 2)])]
    ])
    func invalidTablesAreRefused(services: [RoutingTable.Service]) {
        #expect(throws: RoutingTable.BuildError.self) { try RoutingTable(services: services) }
    }

    @Test func duplicateHostErrorNamesBothServices() {
        do {
            _ = try RoutingTable(services: [
                .init(name: "first", hosts: ["mail.contoso.com"], routes: []),
                .init(name: "second", hosts: ["Mail.Contoso.com"], routes: [])
            ])
            Issue.record("a duplicate host must be refused")
        } catch {
            #expect(error.message.contains("first") && error.message.contains("second"))
        }
    }
}

/// One request through every step in the order the proxy runs them: canonicalise, host, deny, route.
@Suite struct RoutingFlowTests {
    static func table() throws -> RoutingTable {
        var rules = DenyRuleSet.all
        rules.remove(.externalPowershell)
        return try RoutingTable(services: [
            .init(
                name: "mail", hosts: ["mail.contoso.com"],
                routes: [.init(prefix: "/owa/", id: 1), .init(prefix: "/ecp/", id: 2), .init(prefix: "/powershell", id: 3)],
                redirectRootTo: "/owa/", adminNetworks: [try IPNetwork("10.0.0.0/8")]),
            .init(name: "open", hosts: ["lab.contoso.com"], routes: [.init(prefix: "/", id: 9)], denyRules: rules)
        ])
    }

    @Test func serviceRulesAndAdminNetworksApply() throws {
        let table = try Self.table()
        let outside = IPAddress("198.51.100.7")!
        let inside = IPAddress("10.9.8.7")!
        let ecp = try CanonicalTarget(requestTarget: "/OWA/%2e%2e/ECP/", method: .GET, host: "mail.contoso.com")
        let mail = try #require(table.service(forHost: "MAIL.contoso.com:443"))
        #expect(table.denial(serviceIndex: mail, method: .GET, target: ecp, headers: [:], client: outside) == .ecpAdminOnly)
        #expect(table.denial(serviceIndex: mail, method: .GET, target: ecp, headers: [:], client: inside) == nil)
        #expect(table.match(serviceIndex: mail, target: ecp) == .route(id: 2))

        let powershell = try CanonicalTarget(requestTarget: "/PowerShell/", method: .POST, host: nil)
        let lab = try #require(table.service(forHost: "lab.contoso.com"))
        #expect(
            table.denial(serviceIndex: mail, method: .POST, target: powershell, headers: [:], client: outside)
                == .externalPowershell)
        #expect(table.denial(serviceIndex: lab, method: .POST, target: powershell, headers: [:], client: outside) == nil)
        #expect(table.match(serviceIndex: lab, target: powershell) == .route(id: 9))
    }
}
