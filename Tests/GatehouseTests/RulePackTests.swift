import Foundation
import NIOHTTP1
import Testing

@testable import Gatehouse

/// Issue #21 item 3: rule packs load in full (file:line:column errors), evaluate after the
/// built-in rules, and decide deny / abort / status.
@Suite struct RulePackTests {
    /// The repository's root, from this file's path.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Loads pack `text` from a file in a fresh fixture; returns the pack or the diagnostics.
    static func load(_ text: String) throws -> (RulePack?, [ConfigDiagnostic]) {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let path = try fixture.write(text, name: "pack.yaml")
        let collector = DiagnosticCollector(file: "pack.yaml")
        let pack = RulePackLoader.load(path: path, collector: collector)
        return (pack, collector.errors)
    }

    static func onlyError(_ text: String) throws -> String {
        let (pack, errors) = try load(text)
        #expect(pack == nil)
        try #require(errors.count == 1, "\(errors)")
        return errors[0].description
    }

    static let header = "pack: test\nversion: \"1\"\nrules:\n"

    @Test func invalidPatternNamesFileLineAndColumn() throws {
        let text = Self.header + "  - id: a\n    match: { decoded_uri: 'abc(def' }\n    action: deny\n"
        let error = try Self.onlyError(text)
        // Line 5; the value starts at column 27 with its quote, PCRE2 stops at offset 7.
        #expect(error.hasPrefix("pack.yaml:5:35: error: invalid pattern for 'decoded_uri' in 'match' of rule 'a': "))
        #expect(error.contains("missing closing parenthesis"))
    }

    @Test func unknownKeySuggestsTheRightOne() throws {
        let text = Self.header + "  - id: a\n    match:\n      decoded_url: 'x'\n    action: deny\n"
        #expect(
            try Self.onlyError(text)
                == "pack.yaml:6:7: error: unknown key 'decoded_url' in 'match' of rule 'a' (did you mean 'decoded_uri'?)")
    }

    @Test func duplicateIDIsRefused() throws {
        let text = Self.header + "  - { id: a, match: { uri: x }, action: deny }\n  - { id: a, match: { uri: y }, action: abort }\n"
        #expect(try Self.onlyError(text).hasPrefix("pack.yaml:5:11: error: duplicate rule id 'a' (first used at line 4)"))
    }

    @Test func actionsAndStatusRange() throws {
        let bad = Self.header + "  - { id: a, match: { uri: x }, action: { status: 302 } }\n"
        #expect(try Self.onlyError(bad).contains("must be a status code from 400 to 599"))
        let unknown = Self.header + "  - { id: a, match: { uri: x }, action: drop }\n"
        #expect(try Self.onlyError(unknown).contains("unknown action 'drop'"))
        let good = Self.header + "  - { id: a, match: { uri: x }, action: { status: 451 } }\n"
        let (pack, errors) = try Self.load(good)
        #expect(errors.isEmpty)
        #expect(pack?.rules.first?.action == .status(451))
    }

    @Test func anEmptyMatchIsRefused() throws {
        let text = Self.header + "  - { id: a, match: {}, action: deny }\n"
        #expect(try Self.onlyError(text).contains("has no condition, so it would match every request"))
    }

    @Test func missingPackNameAndRules() throws {
        let (pack, errors) = try Self.load("version: 1\n")
        #expect(pack == nil)
        #expect(errors.map(\.message).contains { $0.contains("missing key 'pack'") })
        #expect(errors.map(\.message).contains { $0.contains("missing key 'rules'") })
    }

    @Test func theShippedPackLoads() throws {
        let path = Self.repository.appendingPathComponent("conf/screening/exchange-mitigations.yaml").path
        let collector = DiagnosticCollector(file: path)
        let pack = try #require(RulePackLoader.load(path: path, collector: collector), "\(collector.errors)")
        #expect(pack.name == "exchange-mitigations")
        #expect(pack.version == "2022.11")
        #expect(pack.rules.map(\.id) == ["eems-m1", "eomt-anonresource-backend", "eomt-beresource"])
        #expect(pack.rules.allSatisfy { $0.action == .abort })
    }

    // MARK: evaluation

    static func packs(_ text: String) throws -> ScreeningPacks {
        let (pack, errors) = try load(text)
        return ScreeningPacks(packs: [try #require(pack, "\(errors)")])
    }

    static func hit(
        _ packs: ScreeningPacks, _ uri: String, method: HTTPMethod = .GET, headers: [(String, String)] = [],
        client: String = "192.0.2.10"
    ) throws -> String? {
        let head = HTTPRequestHead(
            version: .http1_1, method: method, uri: uri,
            headers: HTTPHeaders([("Host", "mail.contoso.lab")] + headers))
        let target = try CanonicalTarget(requestTarget: uri, method: method, host: "mail.contoso.lab")
        return packs.firstMatch(head: head, target: target, client: try #require(IPAddress(client)))?.label
    }

    @Test func everyMatchKey() throws {
        let packs = try Self.packs(
            Self.header + """
                  - { id: decoded, match: { decoded_uri: 'secret-word' }, action: abort }
                  - { id: raw, match: { uri: '%7e' }, action: deny }
                  - { id: path, match: { path: '^/ews/odd$' }, action: deny }
                  - { id: query, match: { query: 'a=b c' }, action: deny }
                  - { id: method, match: { method: '^PROPFIND$', case_sensitive: true }, action: deny }
                  - { id: header, match: { header: { name: X-Test, pattern: '^bad' } }, action: deny }
                  - { id: client, match: { client: [203.0.113.0/24], path: '^/owa/admin' }, action: deny }
                  - { id: negated, match: { path: '^/mapi/', not: { header: { name: X-RequestType, pattern: '.' } } }, action: deny }
                  - { id: either, match: { any: [ { path: '^/one$' }, { path: '^/two$' } ] }, action: deny }
                """)
        #expect(try Self.hit(packs, "/owa/?q=secret%252Dword") == "test/decoded")  // decoded twice
        #expect(try Self.hit(packs, "/owa/%7Eadmin") == "test/raw")  // case-insensitive
        #expect(try Self.hit(packs, "/owa/~admin") == nil)
        #expect(try Self.hit(packs, "/EWS/./odd") == "test/path")  // canonical path
        #expect(try Self.hit(packs, "/owa/?a=b%20c") == "test/query")
        #expect(try Self.hit(packs, "/owa/", method: .RAW(value: "PROPFIND")) == "test/method")
        #expect(try Self.hit(packs, "/owa/", method: .RAW(value: "propfind")) == nil)
        #expect(try Self.hit(packs, "/owa/", headers: [("x-test", "ok"), ("X-Test", "BAD")]) == "test/header")
        #expect(try Self.hit(packs, "/owa/admin", client: "203.0.113.7") == "test/client")
        #expect(try Self.hit(packs, "/owa/admin", client: "198.51.100.7") == nil)
        #expect(try Self.hit(packs, "/mapi/emsmdb/") == "test/negated")
        #expect(try Self.hit(packs, "/mapi/emsmdb/", headers: [("X-RequestType", "Connect")]) == nil)
        #expect(try Self.hit(packs, "/two") == "test/either")
        #expect(try Self.hit(packs, "/three") == nil)
    }

    @Test func absentHeaderReadsAsEmptyAsInIIS() throws {
        let packs = try Self.packs(Self.header + "  - { id: a, match: { header: { name: User-Agent, pattern: '^$' } }, action: deny }\n")
        #expect(try Self.hit(packs, "/owa/") == "test/a")
        #expect(try Self.hit(packs, "/owa/", headers: [("User-Agent", "Outlook")]) == nil)
    }

    @Test func splitCookiesAreJoined() throws {
        let packs = try Self.packs(Self.header + "  - { id: a, match: { header: { name: Cookie, pattern: 'a=1; b=2' } }, action: deny }\n")
        #expect(try Self.hit(packs, "/owa/", headers: [("cookie", "a=1"), ("cookie", "b=2")]) == "test/a")
        #expect(try Self.hit(packs, "/owa/", headers: [("cookie", "a=1")]) == nil)
    }

    // MARK: the Microsoft pack, allow and deny tables

    static func microsoft() throws -> ScreeningPacks {
        let path = repository.appendingPathComponent("conf/screening/exchange-mitigations.yaml").path
        let collector = DiagnosticCollector(file: path)
        return ScreeningPacks(packs: [try #require(RulePackLoader.load(path: path, collector: collector))])
    }

    static let microsoftDenied: [(String, [(String, String)], String)] = [
        (
            "/autodiscover/autodiscover.json?@evil.com/PowerShell/?X-Rps-CAT=x&Email=autodiscover/autodiscover.json%3F@evil.com",
            [], "eems-m1"
        ),
        ("/autodiscover/autodiscover.json?a=..&Email=autodiscover/autodiscover.json%3F@x.com&Protocol=Powershell", [], "eems-m1"),
        ("/autodiscover/autodiscover.json?x=%2550owershell", [], "eems-m1"),  // encoded twice
        ("/POWERSHELL/?x=AUTODISCOVER", [], "eems-m1"),
        (
            "/owa/", [("Cookie", "X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-AnonResource=true")],
            "eomt-anonresource-backend"
        ),
        ("/ecp/y.js", [("Cookie", "X-BEResource=localhost/owa/auth/logon.aspx?~3")], "eomt-beresource"),
        (
            "/ecp/y.js", [("cookie", "a=b"), ("cookie", "X-BEResource=admin@mbx01:444/ecp/proxyLogon.ecp?~1942")],
            "eomt-beresource"
        )
    ]

    static let microsoftAllowed: [(String, [(String, String)])] = [
        ("/autodiscover/autodiscover.xml", []),
        ("/autodiscover/autodiscover.json?Email=user@contoso.lab&Protocol=ActiveSync", []),
        ("/autodiscover/autodiscover.json/v1.0/user@contoso.lab?Protocol=EWS", []),
        ("/owa/", [("Cookie", "X-BEResource=mbx01~1942062522; X-OWA-CANARY=abc")]),
        ("/owa/powershell-team@contoso.lab/", []),
        ("/EWS/Exchange.asmx", [("Cookie", "X-BackEndOverrideCookie=mbx01~1942")]),
        ("/mapi/emsmdb/?MailboxId=0b1c@contoso.lab", []),
        ("/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=ABC&DeviceType=iPhone", []),
        ("/OAB/4f1b/oab.xml", []),
        ("/rpc/rpcproxy.dll?mbx01.contoso.lab:6001", [])
    ]

    @Test func microsoftPackDenyTable() throws {
        let packs = try Self.microsoft()
        for (uri, headers, rule) in Self.microsoftDenied {
            #expect(try Self.hit(packs, uri, headers: headers) == "exchange-mitigations/\(rule)", "\(uri)")
        }
    }

    @Test func microsoftPackAllowTable() throws {
        let packs = try Self.microsoft()
        for (uri, headers) in Self.microsoftAllowed {
            #expect(try Self.hit(packs, uri, headers: headers) == nil, "\(uri)")
        }
    }
}
