import Foundation
import NIOHTTP1
import Testing

@testable import Gatehouse

/// `screening: { packs: [...] }` in the configuration, and the router's use of the packs.
@Suite struct ScreeningConfigTests {
    static let pack = """
        pack: local
        version: "7"
        rules:
          - { id: no-foo, match: { path: '^/owa/foo' }, action: deny }
          - { id: cut, match: { path: '^/owa/cut' }, action: abort }
          - { id: teapot, match: { path: '^/owa/tea' }, action: { status: 418 } }
        """

    @Test func packsLoadRelativeToTheConfigFile() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try FileManager.default.createDirectory(
            at: fixture.root.appendingPathComponent("conf/screening"),
            withIntermediateDirectories: true)
        try fixture.write(Self.pack, name: "screening/local.yaml")
        let (configuration, _) = try fixture.load(ConfigFixture.minimal + "\nscreening:\n  packs: [screening/local.yaml]\n")
        let packs = try #require(configuration.screening)
        #expect(packs.packs.map(\.name) == ["local"])
        #expect(packs.packs[0].rules.count == 3)
        #expect(packs.packs[0].path == fixture.path("conf/screening/local.yaml"))
    }

    @Test func noScreeningMeansNoPacks() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        #expect(try fixture.load(ConfigFixture.minimal).0.screening == nil)
    }

    @Test func packErrorsNameThePackFile() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write("pack: broken\nrules:\n  - { id: a, match: { uri: '(' }, action: deny }\n", name: "broken.yaml")
        let errors = try fixture.errors(ConfigFixture.minimal + "\nscreening:\n  packs: [broken.yaml]\n")
        try #require(errors.count == 1, "\(errors)")
        #expect(errors[0].file.hasSuffix("conf/broken.yaml"))
        #expect(errors[0].line == 3)
        #expect(errors[0].description.contains("invalid pattern"))
    }

    @Test func missingPackFileAndUnknownKey() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nscreening:\n  pack: [x.yaml]\n")
        #expect(errors.contains { $0.message.contains("unknown key 'pack'") })
        let missing = try fixture.errors(ConfigFixture.minimal + "\nscreening:\n  packs: [nothere.yaml]\n")
        #expect(missing.contains { $0.message.contains("rule pack 'nothere.yaml'") && $0.message.contains("does not exist") })
    }

    @Test func twoPacksWithOneNameAreRefused() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write(Self.pack, name: "a.yaml")
        try fixture.write(Self.pack, name: "b.yaml")
        let errors = try fixture.errors(ConfigFixture.minimal + "\nscreening:\n  packs: [a.yaml, b.yaml]\n")
        #expect(errors.contains { $0.message.contains("has the same name as the pack in a.yaml") })
    }

    // MARK: the router

    static func router(builtIn: DenyRuleSet = .all) throws -> ExchangeRouter {
        let collector = DiagnosticCollector(file: "pack.yaml")
        let pack = try #require(RulePackLoader(collector: collector, path: "pack.yaml").parse(yaml: Self.pack))
        let table = try RoutingTable(services: [
            .init(name: "mail", hosts: ["mail.contoso.lab"], routes: [.init(prefix: "/", id: 0)], denyRules: builtIn)
        ])
        return ExchangeRouter(table: table, policies: [ProxyFramingTests.policy], screening: ScreeningPacks(packs: [pack]))
    }

    static func decide(_ router: ExchangeRouter, _ uri: String, headers: [(String, String)] = []) -> ProxyDecision {
        router.decide(
            head: HTTPRequestHead(
                version: .http1_1, method: .GET, uri: uri,
                headers: HTTPHeaders([("Host", "mail.contoso.lab")] + headers)),
            connection: ProxyFramingTests.facts)
    }

    @Test func routerActsOnEachAction() throws {
        let router = try Self.router()
        guard case .respond(let denied) = Self.decide(router, "/owa/foo") else {
            Issue.record("not denied")
            return
        }
        #expect(denied.status == .forbidden)
        #expect(denied.reason == "rule local/no-foo")
        guard case .abort(let reason) = Self.decide(router, "/owa/cut") else {
            Issue.record("not aborted")
            return
        }
        #expect(reason == "rule local/cut (abort)")
        guard case .respond(let teapot) = Self.decide(router, "/owa/tea") else {
            Issue.record("not answered")
            return
        }
        #expect(teapot.status.code == 418)
        guard case .forward = Self.decide(router, "/owa/other") else {
            Issue.record("not forwarded")
            return
        }
    }

    @Test func builtInRulesRunFirst() throws {
        let router = try Self.router()
        let decision = Self.decide(router, "/owa/foo", headers: [("Cookie", "X-AnonResource-Backend=x")])
        guard case .respond(let local) = decision else {
            Issue.record("not denied")
            return
        }
        #expect(local.reason == "deny rule anon_resource_backend")
    }
}
