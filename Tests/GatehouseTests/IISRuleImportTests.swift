import Foundation
import Testing

@testable import Gatehouse

/// Issue #21 item 5: `gatehouse rules import` converts EOMT-shaped IIS rules exactly or refuses.
@Suite struct IISRuleImportTests {
    static let sample = RulePackTests.repository.appendingPathComponent("conf/screening/examples/eomt-web.config")

    static func convert(_ xml: String) throws(IISRuleImport.Failure) -> IISRuleImport.Result {
        try IISRuleImport.convert(xml: Data(xml.utf8), sourceName: "web.config", pack: "iis", version: "1")
    }

    /// A web.config around `rules` (the `<rule>` elements).
    static func webConfig(_ rules: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <configuration>
          <system.webServer>
            <rewrite>
              <rules>
        \(rules)
              </rules>
            </rewrite>
          </system.webServer>
        </configuration>
        """
    }

    @Test func theEOMTSampleConverts() throws {
        let data = try Data(contentsOf: Self.sample)
        let result = try IISRuleImport.convert(xml: data, sourceName: "eomt-web.config", pack: "eomt", version: "2021.03")
        #expect(result.ruleCount == 5)
        #expect(result.yaml.contains("  - id: powershell-inbound\n"))
        #expect(result.yaml.contains("match: { decoded_uri: '(?=.*autodiscover)(?=.*powershell)' }"))
        #expect(result.yaml.contains("match: { header: { name: cookie, pattern: '(.*)X-AnonResource-Backend(.*)' } }"))
        #expect(result.yaml.contains("        - { header: { name: x-rps-cat, pattern: '.+' } }"))
        #expect(result.yaml.contains("      any:\n"))
        #expect(result.yaml.contains("        - { not: { header: { name: user-agent, pattern: 'Mozilla' } } }"))
        #expect(result.yaml.contains("        - { method: '^POST$', case_sensitive: true }"))
        #expect(result.yaml.contains("    action: { status: 451 }"))
        #expect(result.yaml.contains("    action: deny"))
        // The disabled rule and the dropped response text are named, never silent.
        #expect(result.notes.contains { $0.rule == "Old test rule" && $0.message.contains("enabled=\"false\"") })
        #expect(result.notes.contains { $0.rule == "Legacy RPS header" && $0.message.contains("statusReason") })
        #expect(result.yaml.contains("# note: eomt-web.config line 48: rule 'Old test rule': skipped: enabled=\"false\""))

        // The pack loads and behaves as the IIS rules did.
        let collector = DiagnosticCollector(file: "eomt.yaml")
        let pack = try #require(
            RulePackLoader(collector: collector, path: "eomt.yaml").parse(yaml: result.yaml),
            "\(collector.errors)")
        let packs = ScreeningPacks(packs: [pack])
        #expect(try RulePackTests.hit(packs, "/autodiscover/autodiscover.json?@x/%50owershell/") == "eomt/powershell-inbound")
        #expect(
            try RulePackTests.hit(packs, "/owa/", headers: [("Cookie", "X-BEResource=a/b~1")])
                == "eomt/x-beresource-abort-inbound")
        #expect(try RulePackTests.hit(packs, "/owa/", headers: [("Cookie", "X-BEResource=mbx01~1942")]) == nil)
        #expect(try RulePackTests.hit(packs, "/owa/?X-Rps-CAT=1") == "eomt/legacy-rps-header")
        #expect(try RulePackTests.hit(packs, "/ecp/a", method: .POST) == "eomt/ecp-from-non-browsers")
        #expect(try RulePackTests.hit(packs, "/ecp/a", method: .POST, headers: [("User-Agent", "Mozilla/5.0")]) == nil)
        #expect(try RulePackTests.hit(packs, "/ecp/a", method: .RAW(value: "post")) == nil)
    }

    static func problems(_ xml: String) -> [IISRuleImport.Problem] {
        do {
            _ = try convert(xml)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func rewriteAndRedirectActionsAreRefusedWithTheirLine() {
        let problems = Self.problems(
            Self.webConfig(
                """
                        <rule name="To HTTPS">
                          <match url=".*" />
                          <conditions><add input="{HTTPS}" pattern="off" /></conditions>
                          <action type="Redirect" url="https://{HTTP_HOST}/{R:1}" />
                        </rule>
                        <rule name="Rewrite it">
                          <match url=".*" />
                          <conditions><add input="{REQUEST_URI}" pattern="x" /></conditions>
                          <action type="Rewrite" url="/y" />
                          <serverVariables><set name="HTTP_X" value="1" /></serverVariables>
                        </rule>
                """))
        #expect(problems.contains { $0.rule == "To HTTPS" && $0.message.contains("input {HTTPS} is not converted") && $0.line == 8 })
        #expect(problems.contains { $0.rule == "To HTTPS" && $0.message.contains("action type=\"Redirect\"") })
        #expect(problems.contains { $0.rule == "Rewrite it" && $0.message.contains("action type=\"Rewrite\"") })
        #expect(problems.contains { $0.rule == "Rewrite it" && $0.message.contains("<serverVariables>") })
    }

    @Test func otherMatchURLsRawQueryAndWildcardsAreRefused() {
        let problems = Self.problems(
            Self.webConfig(
                """
                        <rule name="Path only">
                          <match url="^owa/" />
                          <conditions><add input="{QUERY_STRING}" pattern="a" /></conditions>
                          <action type="AbortRequest" />
                        </rule>
                        <rule name="Wild" patternSyntax="Wildcard">
                          <match url="*" />
                          <conditions><add input="{REQUEST_URI}" pattern="*x*" /></conditions>
                          <action type="AbortRequest" />
                        </rule>
                """))
        #expect(problems.contains { $0.rule == "Path only" && $0.message.contains("<match url=\"^owa/\">") })
        #expect(problems.contains { $0.rule == "Path only" && $0.message.contains("{QUERY_STRING}") })
        #expect(problems.contains { $0.rule == "Wild" && $0.message.contains("patternSyntax=\"Wildcard\"") })
        let serverVariable = Self.problems(
            Self.webConfig(
                """
                        <rule name="Raw URL"><match url=".*" /><conditions><add input="{HTTP_URL}" pattern="x" /></conditions>
                          <action type="AbortRequest" /></rule>
                """))
        #expect(serverVariable.contains { $0.rule == "Raw URL" && $0.message.contains("not a request header") })
    }

    @Test func outboundRulesAndBrokenXMLAreRefused() {
        let outbound = Self.problems(
            """
            <configuration><system.webServer><rewrite>
              <rules><rule name="a"><match url=".*" /><conditions><add input="{REQUEST_URI}" pattern="x" /></conditions>
                <action type="AbortRequest" /></rule></rules>
              <outboundRules><rule name="b" /></outboundRules>
            </rewrite></system.webServer></configuration>
            """)
        #expect(outbound.contains { $0.message.contains("<outboundRules> is not converted") && $0.line == 4 })
        let broken = Self.problems("<configuration><system.webServer></configuration>")
        #expect(broken.count == 1)
        #expect(broken.first?.message.hasPrefix("cannot read the XML") == true, "\(broken)")
        #expect(Self.problems("<configuration />").contains { $0.message.contains("no <system.webServer><rewrite><rules>") })
    }

    @Test func duplicateNamesGetDistinctIDs() throws {
        let rule = """
                    <rule name="Same!"><match url=".*" /><conditions><add input="{REQUEST_URI}" pattern="x" /></conditions>
                      <action type="AbortRequest" /></rule>
            """
        let result = try Self.convert(Self.webConfig(rule + "\n" + rule))
        #expect(result.yaml.contains("- id: same\n"))
        #expect(result.yaml.contains("- id: same-2\n"))
    }
}
