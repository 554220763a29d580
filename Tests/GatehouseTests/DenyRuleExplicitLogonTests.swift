import NIOHTTP1
import Testing

@testable import Gatehouse

/// OWASSRF (CVE-2022-41080) and its look-alikes (issue #21, items 1 and 2): an OWA or ECP explicit
/// logon (`/owa/<address>/...`) followed by a virtual directory is refused for every client, admin
/// networks included; a mailbox whose address merely starts with a virtual directory's name is not.
///
/// Rules are named by their configuration names (strings), so the table reads as the log does.
@Suite struct DenyRuleExplicitLogonTests {
    static let outside = IPAddress("203.0.113.5")!
    static let admin = IPAddress("10.1.2.3")!
    static let adminNetworks = [try! IPNetwork("10.0.0.0/8")]

    static let explicitLogon = "explicit_logon_vdir"
    static let powershell = "external_powershell"
    static let ecp = "ecp_admin_only"

    /// One request and the rules that fire on it (each evaluated on its own) from an admin network
    /// and from outside. An empty set means the request passes screening.
    struct Row: Sendable, CustomTestStringConvertible {
        var label: String
        var method: HTTPMethod = .GET
        var target: String
        var admin: Set<String>
        var outside: Set<String>
        var testDescription: String { label }
    }

    /// OWASSRF and every shape of it the canonicaliser accepts: refused inside and outside.
    static let denied: [Row] = [
        .init(
            label: "OWASSRF as published", method: .POST, target: "/owa/mastermailbox%40outlook.com/powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "literal @", target: "/owa/u@contoso.com/powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "trailing slash", target: "/owa/u@contoso.com/powershell/",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "mixed case and a query", target: "/owa/u@contoso.com/PowerShell?x",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "upper case everywhere, %40, remote PowerShell query", method: .POST,
            target: "/OWA/U%40CONTOSO.COM/POWERSHELL/?serializationLevel=Full;clientApplication=x",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "lower-case %40 and encoded letters", target: "/owa/u%40contoso.com/%50ower%73hell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "path parameter after the directory", target: "/owa/u@contoso.com/powershell;a=b",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "encoded ; after the directory", target: "/owa/u@contoso.com/PowerShell%3Bx/",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "path parameter on /owa", target: "/owa;x=1/u@contoso.com/powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "empty segments", target: "/owa//u@contoso.com//powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "dot-segments", target: "/owa/u@contoso.com/./x/../powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "encoded dot-segments back into /owa", target: "/ews/%2e%2e/owa/u%40contoso.com/powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "absolute form", target: "https://mail.contoso.com/owa/u@contoso.com/powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "address further down", target: "/owa/calendar/u@contoso.com/powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "PowerShell-LiveID", target: "/owa/u@contoso.com/powershell-liveid/",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell]),
        .init(
            label: "ECP explicit logon to PowerShell", target: "/ecp/u@contoso.com/powershell",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell, ecp]),
        .init(
            label: "ECP, upper case, %40", target: "/ECP/U%40contoso.com/PowerShell/",
            admin: [explicitLogon, powershell], outside: [explicitLogon, powershell, ecp]),
        // The other services Exchange proxies by path: no PowerShell, still a request as the server.
        .init(
            label: "EWS", method: .POST, target: "/owa/u@contoso.com/ews/exchange.asmx",
            admin: [explicitLogon], outside: [explicitLogon]),
        .init(
            label: "EWS, Exchange's spelling, %40", method: .POST, target: "/owa/u%40contoso.com/EWS/Exchange.asmx",
            admin: [explicitLogon], outside: [explicitLogon]),
        .init(
            label: "Autodiscover", method: .POST, target: "/owa/u@contoso.com/Autodiscover/Autodiscover.xml",
            admin: [explicitLogon], outside: [explicitLogon]),
        .init(
            label: "MAPI", method: .POST, target: "/owa/u@contoso.com/mapi/emsmdb/?MailboxId=x@contoso.com",
            admin: [explicitLogon], outside: [explicitLogon]),
        .init(label: "OAB", target: "/owa/u@contoso.com/OAB/3f5b/oab.xml", admin: [explicitLogon], outside: [explicitLogon]),
        .init(
            label: "RPC", target: "/owa/u@contoso.com/rpc/rpcproxy.dll?mbx01:6001",
            admin: [explicitLogon], outside: [explicitLogon]),
        .init(label: "RpcWithCert", target: "/owa/u@contoso.com/RpcWithCert/", admin: [explicitLogon], outside: [explicitLogon]),
        .init(
            label: "ActiveSync", method: .POST, target: "/owa/u@contoso.com/Microsoft-Server-ActiveSync?Cmd=Sync",
            admin: [explicitLogon], outside: [explicitLogon]),
        .init(label: "REST API", target: "/owa/u@contoso.com/api/v2.0/me", admin: [explicitLogon], outside: [explicitLogon]),
        .init(label: "OWA into ECP", target: "/owa/u@contoso.com/ecp/", admin: [explicitLogon], outside: [explicitLogon]),
        .init(label: "OWA into OWA", target: "/owa/u@contoso.com/owa/", admin: [explicitLogon], outside: [explicitLogon]),
        .init(
            label: "ECP into OWA, path parameter", target: "/ecp/u@contoso.com/owa;jsessionid=1/",
            admin: [explicitLogon], outside: [explicitLogon, ecp]),
        .init(
            label: "address with a path parameter", target: "/owa/u@contoso.com;x/ews/",
            admin: [explicitLogon], outside: [explicitLogon]),
        // PowerShell below the root is nobody's admin path.
        .init(label: "PowerShell below EWS", target: "/EWS/PowerShell/", admin: [powershell], outside: [powershell]),
        .init(label: "PowerShell below OWA, no address", target: "/owa/powershell", admin: [powershell], outside: [powershell]),
        // The admin services at the root: refused from outside only.
        .init(label: "PowerShell at the root", target: "/powershell", admin: [], outside: [powershell]),
        .init(label: "PowerShell at the root, mixed case, slash", target: "/PowerShell/", admin: [], outside: [powershell]),
        .init(label: "PowerShell at the root, path parameter", target: "/powershell;x/", admin: [], outside: [powershell]),
        .init(label: "PowerShell-LiveID at the root", target: "/PowerShell-LiveID/", admin: [], outside: [powershell]),
        .init(label: "ECP at the root", target: "/ecp/", admin: [], outside: [ecp]),
        .init(label: "ECP explicit logon without a directory", target: "/ecp/u@contoso.com/", admin: [], outside: [ecp])
    ]

    /// Legitimate requests that look like the above: nothing fires, inside or outside.
    static let allowed: [Row] = [
        .init(label: "mailbox named powershell-team", target: "/owa/powershell-team@contoso.com/", admin: [], outside: []),
        .init(label: "powershell-team, %40, mixed case", target: "/owa/PowerShell-Team%40contoso.com/", admin: [], outside: []),
        .init(label: "mailbox named powershellfan", target: "/owa/powershellfan@x/inbox", admin: [], outside: []),
        .init(label: "mailbox named powershell", target: "/owa/powershell@contoso.com/", admin: [], outside: []),
        .init(label: "mailbox named ews", target: "/owa/ews@contoso.com/", admin: [], outside: []),
        .init(label: "explicit logon, OWA root", target: "/owa/u@contoso.com/", admin: [], outside: []),
        .init(
            label: "explicit logon, OWA service call", method: .POST,
            target: "/owa/u@contoso.com/service.svc?action=GetFolder", admin: [], outside: []),
        .init(
            label: "explicit logon, names that start with a directory", target: "/owa/u@contoso.com/ewsx/mapi.aspx",
            admin: [], outside: []),
        .init(
            label: "explicit logon, directory name in the query only",
            target: "/owa/u@contoso.com/?path=/powershell&x=/ews/", admin: [], outside: []),
        .init(label: "published calendar", target: "/owa/calendar/2f6c@contoso.com/ab12/calendar.html", admin: [], outside: []),
        .init(label: "OWA root", target: "/owa/", admin: [], outside: []),
        .init(label: "OWA without slash", target: "/OWA", admin: [], outside: []),
        .init(
            label: "OWA logon", target: "/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2fmail%2fowa%2f",
            admin: [], outside: []),
        .init(label: "OWA static", target: "/owa/prem/15.2.1118/scripts/boot.worker.js", admin: [], outside: []),
        .init(label: "OWA PowerPoint viewer", target: "/owa/powerpoint.aspx", admin: [], outside: []),
        .init(label: "EWS", method: .POST, target: "/EWS/Exchange.asmx", admin: [], outside: []),
        .init(
            label: "Autodiscover v2 path form", target: "/autodiscover/autodiscover.json/v1.0/user@contoso.com?Protocol=EWS",
            admin: [], outside: []),
        .init(
            label: "MAPI with a mailbox id", method: .POST, target: "/mapi/emsmdb/?MailboxId=0c5f@contoso.com",
            admin: [], outside: []),
        .init(label: "a directory named like PowerShell", target: "/powershellx/", admin: [], outside: [])
    ]

    /// Which rules fire on `target` from `client`, each switched on alone.
    static func firing(_ row: Row, client: IPAddress) throws -> Set<String> {
        let target = try CanonicalTarget(requestTarget: row.target, method: row.method, host: "mail.contoso.com")
        var fired = Set<String>()
        for rule in DenyRule.allCases {
            if let verdict = DenyRuleSet([rule]).firstViolation(
                method: row.method, target: target, headers: [:], client: client, adminNetworks: adminNetworks)
            {
                fired.insert(verdict.rawValue)
            }
        }
        return fired
    }

    /// The rule reported with every rule on (the first firing one in declaration order), or nil.
    static func reported(_ row: Row, client: IPAddress) throws -> String? {
        let target = try CanonicalTarget(requestTarget: row.target, method: row.method, host: "mail.contoso.com")
        return DenyRuleSet.all.firstViolation(
            method: row.method, target: target, headers: [:], client: client, adminNetworks: adminNetworks)?.rawValue
    }

    static func check(_ row: Row) throws {
        for (client, expected) in [(admin, row.admin), (outside, row.outside)] {
            #expect(try firing(row, client: client) == expected, "from \(client)")
            let first = DenyRule.allCases.map(\.rawValue).first(where: expected.contains)
            #expect(try reported(row, client: client) == first, "from \(client)")
        }
    }

    @Test(arguments: denied)
    func explicitLogonShapeIsRefused(_ row: Row) throws {
        try Self.check(row)
    }

    @Test(arguments: allowed)
    func legitimateLookAlikePasses(_ row: Row) throws {
        try Self.check(row)
    }

    /// Every service in the catalogue, named after an OWA or ECP explicit logon, is refused from an
    /// admin network: a preset added later is covered without editing the rule.
    @Test(arguments: ExchangeService.allCases)
    func everyCatalogueServiceAfterExplicitLogonIsRefused(_ service: ExchangeService) throws {
        for application in ["/owa/", "/ecp/"] {
            let request = application + "u%40contoso.com" + service.pathPrefix
            let target = try CanonicalTarget(requestTarget: request, method: .GET, host: nil)
            let rule = DenyRuleSet.all.firstViolation(
                method: .GET, target: target, headers: [:], client: Self.admin, adminNetworks: Self.adminNetworks)
            #expect(rule?.rawValue == Self.explicitLogon, "\(request)")
        }
    }

    /// Switching `external_powershell` off (an operator who publishes remote PowerShell) leaves
    /// OWASSRF refused: the explicit-logon rule stands on its own.
    @Test func explicitLogonRuleDoesNotDependOnThePowerShellRule() throws {
        var rules = DenyRuleSet.all
        rules.remove(try #require(DenyRule(rawValue: Self.powershell)))
        let target = try CanonicalTarget(requestTarget: "/owa/u%40contoso.com/powershell", method: .POST, host: nil)
        let rule = rules.firstViolation(
            method: .POST, target: target, headers: [:], client: Self.admin, adminNetworks: Self.adminNetworks)
        #expect(rule?.rawValue == Self.explicitLogon)
    }

    /// The encodings the canonicaliser refuses never reach the rules (the proxy answers 400), so
    /// the rules need not decode further: `%2540` (double encoding), `%2F` hiding a separator,
    /// trailing dots and spaces that Windows strips.
    @Test(arguments: [
        "/owa/u%2540contoso.com/powershell", "/owa/u@contoso.com%2Fpowershell", "/owa/u@contoso.com/powershell.",
        "/owa/u@contoso.com/powershell%20", "/owa/u@contoso.com/powershell./", "/owa/u@contoso.com/ews%2e/",
        "/owa/u@contoso.com%5Cpowershell", "/owa/u%u0040contoso.com/powershell"
    ])
    func encodingsBeyondTheCanonicaliserAreRefusedEarlier(_ request: String) {
        #expect(throws: RequestTargetRejection.self) {
            try CanonicalTarget(requestTarget: request, method: .GET, host: nil)
        }
    }
}

/// The in-place segment scan the path rules use.
@Suite struct PathSegmentsTests {
    static func segments(_ path: String) -> [String] {
        var path = path
        return path.withUTF8 { bytes in
            PathSegments(bytes).map { String(decoding: $0.bytes, as: UTF8.self) + "|" + String(decoding: $0.name, as: UTF8.self) }
        }
    }

    @Test func segmentsNamesAndAddresses() {
        #expect(Self.segments("/owa/u@contoso.com/ews;x=1/") == ["owa|owa", "u@contoso.com|u@contoso.com", "ews;x=1|ews"])
        #expect(Self.segments("/a//b") == ["a|a", "b|b"])
        #expect(Self.segments("/;p") == [";p|"])
        #expect(Self.segments("/").isEmpty)
        #expect(Self.segments("*").isEmpty)
        #expect(Self.segments("").isEmpty)
        var path = "/owa/u@contoso.com/x"
        let addresses = path.withUTF8 { PathSegments($0).map(\.holdsAddress) }
        #expect(addresses == [false, true, false])
    }
}
