import Foundation
import Testing

@testable import Gatehouse

/// Every kind of mistake is reported with file:line:column, what is wrong and a hint; all at once.
@Suite struct ConfigErrorTests {
    /// The single error of `yaml`, failing the test if there is not exactly one.
    private func onlyError(_ yaml: String, in fixture: ConfigFixture) throws -> ConfigDiagnostic {
        let errors = try fixture.errors(yaml)
        #expect(errors.count == 1, "\(errors)")
        return try #require(errors.first)
    }

    /// The minimal configuration with `old` replaced by `new` (which must occur).
    private func edit(_ old: String, _ new: String) -> String {
        precondition(ConfigFixture.minimal.contains(old), "fixture lacks \(old)")
        return ConfigFixture.minimal.replacingOccurrences(of: old, with: new)
    }

    @Test func unknownKeyNamesFileLineColumnAndSuggestion() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("    address: 127.0.0.1:0", "    address: 127.0.0.1:0\n    adress: 127.0.0.1:1"), in: fixture)
        #expect(error.line == 4 && error.column == 5)
        #expect(error.severity == .error)
        #expect(
            error.description
                == "\(fixture.path("conf/test.yaml")):4:5: error: unknown key 'adress' in listener 'https' (did you mean 'address'?)")
    }

    @Test func unknownKeysAreFoundInNestedSections() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("      - { name: mbx01,", "      - { nmae: x, name: mbx01,"), in: fixture)
        #expect(error.line == 10)
        #expect(error.message == "unknown key 'nmae' in server 'mbx01' of pool 'mailbox'")
        #expect(error.hint == "did you mean 'name'?")
        let top = try onlyError(ConfigFixture.minimal + "\nunknown_hosts: 404\n", in: fixture)
        #expect(top.message == "unknown key 'unknown_hosts' in the top level" && top.hint == "did you mean 'unknown_host'?")
    }

    @Test func wrongTypesAreReportedAtTheValue() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let bool = try onlyError(edit("    tls:", "    tls:\n      strict_sni: maybe"), in: fixture)
        #expect(bool.line == 5 && bool.column == 19)
        #expect(bool.message == "'strict_sni' in 'tls' of listener 'https' must be true or false, found 'maybe'")

        let list = try onlyError(edit("hosts: [mail.contoso.lab]", "hosts: { a: b }"), in: fixture)
        #expect(list.line == 15)
        #expect(list.message.contains("'hosts' in service 'contoso' must be a list"))

        let number = try onlyError(ConfigFixture.minimal + "\nunknown_host: lots\n", in: fixture)
        #expect(number.message == "'unknown_host' must be a whole number, found 'lots'")
    }

    @Test func missingCertificateFileIsReportedWithItsResolvedPath() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("cert: ../certs/mail.pem", "cert: ../certs/missing.pem"), in: fixture)
        #expect(error.line == 6 && error.column == 19)
        #expect(error.message.contains("certificate file '../certs/missing.pem'"))
        #expect(error.message.contains(fixture.path("certs/missing.pem")))
        #expect(error.message.hasSuffix("does not exist"))
        #expect(error.hint?.contains("relative to the folder of the configuration file") == true)
    }

    @Test func missingTrustFileAndKeyFileAreErrors() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(
            edit("key: ../certs/mail.key", "key: ../certs/gone.key")
                .replacingOccurrences(of: "[../certs/mbx01.pem]", with: "[../certs/nothere.pem]"))
        #expect(errors.map(\.line) == [6, 12])
        #expect(errors[0].message.contains("key file '../certs/gone.key'"))
        #expect(errors[1].message.contains("trusted certificate '../certs/nothere.pem'"))
    }

    @Test func folderInsteadOfFileIsAnError() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("cert: ../certs/mail.pem", "cert: ../certs"), in: fixture)
        #expect(error.message.contains("is a folder, not a file"))
    }

    @Test func undefinedPoolSuggestsTheClosestName() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("{ preset: owa, pool: mailbox }", "{ preset: owa, pool: mailbx }"), in: fixture)
        #expect(error.line == 17 && error.column == 30)
        #expect(error.message == "route 'owa' of service 'contoso' uses pool 'mailbx', which is not defined")
        #expect(error.hint == "did you mean 'mailbox'?")
    }

    @Test func duplicateHostNamesAcrossServicesPointAtBoth() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml =
            ConfigFixture.minimal + """

                  - name: other
                    hosts: [autodiscover.contoso.lab, Mail.Contoso.Lab.]
                    routes:
                      - { preset: ews, pool: mailbox }
                """
        let error = try onlyError(yaml, in: fixture)
        #expect(error.line == 19 && error.column == 39)
        #expect(error.message.contains("duplicate host name 'Mail.Contoso.Lab.' in service 'other'"))
        #expect(error.message.contains("service 'contoso' at line 15"))
    }

    @Test func invalidDurationSizeAndAddressEachPointAtTheirValue() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml =
            edit("    address: 127.0.0.1:0", "    address: 127.0.0.1")
            .replacingOccurrences(of: "certs/mail.key }", with: "certs/mail.key }\n      handshake_timeout: 10 seconds")
            + "\nlimits: { max_header_line: 64KB }\n"
        let errors = try fixture.errors(yaml)
        #expect(errors.count == 3, "\(errors)")
        #expect(errors[0].line == 3 && errors[0].message.contains("invalid address '127.0.0.1'"))
        #expect(errors[0].message.contains("has no port"))
        #expect(errors[1].line == 7 && errors[1].message.contains("invalid duration '10 seconds' for 'handshake_timeout'"))
        #expect(errors[1].hint?.contains("250ms, 10s, 5m, 1h") == true)
        #expect(errors[2].line == 19 && errors[2].message.contains("invalid size '64KB' for 'max_header_line' in 'limits'"))
        #expect(errors[2].hint?.contains("64KiB") == true)
    }

    @Test(arguments: [
        ("127.0.0.1:99999", "invalid port"), ("mail.contoso.lab:443", "does not start with an IP address"),
        ("::1:443", "does not start with an IP address"), ("[::1]", "has no port"), ("127.0.0.1:", "invalid port")
    ])
    func listenerAddressesMustBeIPAndPort(address: String, problem: String) throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("address: 127.0.0.1:0", "address: \"\(address)\""), in: fixture)
        #expect(error.line == 3)
        #expect(error.message.contains(problem), "\(error)")
    }

    @Test func unknownPresetSuggestsTheClosest() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("preset: owa,", "preset: activsync,"), in: fixture)
        #expect(error.line == 17 && error.column == 19)
        #expect(error.message == "unknown value 'activsync' for 'preset' in route 'activsync' of service 'contoso'")
        #expect(error.hint == "did you mean 'activesync'?")
    }

    @Test func allErrorsAreCollectedInFileOrder() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml =
            edit("    address: 127.0.0.1:0", "    adress: 127.0.0.1:0")
            .replacingOccurrences(of: "tls_name: mbx01.contoso.lab", with: "tls_name: mbx01.contoso.lab, weight: heavy")
            .replacingOccurrences(of: "pool: mailbox }", with: "pool: nowhere }")
            + "\nunknown_host: 500\n"
        let errors = try fixture.errors(yaml)
        let lines = errors.map(\.line)
        #expect(lines == lines.sorted())
        #expect(errors.count == 5, "\(errors)")
        let text = errors.map(\.description).joined(separator: "\n")
        for expected in [
            "missing key 'address' in listener 'https'", "unknown key 'adress'", "'weight' in server 'mbx01'",
            "pool 'nowhere'", "must be 421 or 404"
        ] {
            #expect(text.contains(expected), "\(expected)")
        }
        // The thrown error's description is one compiler-style line per error.
        do {
            _ = try fixture.load(yaml)
            Issue.record("expected an error")
        } catch let error as ConfigError {
            #expect(error.description.split(separator: "\n").count == 5)
        }
    }

    @Test func yamlSyntaxErrorsHaveAPosition() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError("listeners:\n  - name: https\n   address: [unclosed\n", in: fixture)
        #expect(error.line >= 3)
        #expect(error.message.hasPrefix("invalid YAML"))

        let ipv6 = try onlyError(edit("hosts: [mail.contoso.lab]", "hosts: [mail.contoso.lab]\n    admin_networks: [::1/128]"), in: fixture)
        #expect(ipv6.line == 16 && ipv6.hint?.contains("quote IPv6") == true)
    }

    @Test func duplicateKeysInOneMappingAreErrors() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let error = try onlyError(edit("    address: 127.0.0.1:0", "    address: 127.0.0.1:0\n    address: 127.0.0.1:1"), in: fixture)
        #expect(error.message.contains("duplicate key 'address'"))
        #expect(error.line == 3)
    }

    @Test func duplicateListenerAndServiceNamesAreErrors() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml = edit("pools:", "  - { name: https, address: 127.0.0.1:8080, redirect_to_https: 443 }\npools:")
        let error = try onlyError(yaml, in: fixture)
        #expect(error.line == 7 && error.message == "duplicate listener name 'https' (also used at line 2)")
    }

    @Test func structuralRequirementsAreExplained() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        // A listener with neither tls nor redirect.
        let neither = try onlyError(
            edit("pools:", "  - { name: plain, address: 127.0.0.1:8080 }\npools:"), in: fixture)
        #expect(neither.message == "listener 'plain' has neither 'tls' nor 'redirect_to_https' nor 'passthrough'")
        // A pool that trusts nothing.
        let trust = try onlyError(edit("certificates: [../certs/mbx01.pem]", "system_store: false"), in: fixture)
        #expect(trust.message.contains("trusts nothing"))
        // A route without a pool that is not blocked.
        let pool = try onlyError(edit("{ preset: owa, pool: mailbox }", "{ preset: owa }"), in: fixture)
        #expect(pool.message == "missing key 'pool' in route 'owa' of service 'contoso'")
        // default_certificate must be one of the listed certificates.
        let defaultCert = try onlyError(
            edit("key: ../certs/mail.key }", "key: ../certs/mail.key }\n      default_certificate: ../certs/rsa.pem"), in: fixture)
        #expect(defaultCert.message.contains("is not one of this listener's certificates"))
        // Wildcards belong to certificates, not to services.
        let wildcard = try onlyError(edit("hosts: [mail.contoso.lab]", "hosts: [\"*.contoso.lab\"]"), in: fixture)
        #expect(wildcard.message.contains("wildcard host '*.contoso.lab'"))
        // An empty file.
        let empty = try onlyError("", in: fixture)
        #expect(empty.message == "the configuration file is empty")
    }

    @Test func missingConfigurationFileIsAClearError() throws {
        do {
            _ = try GatehouseConfiguration.load(path: "/nonexistent/gatehouse.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.diagnostics.count == 1)
            #expect(error.description.hasPrefix("/nonexistent/gatehouse.yaml: error: cannot read the configuration file"))
        }
    }

    @Test func riskySettingsAreWarnings() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml =
            edit(
                "      - { preset: owa, pool: mailbox }",
                """
                      - { preset: owa, pool: mailbox }
                      - { preset: activesync, pool: mailbox, timeouts: { idle: 10m } }
                      - { preset: powershell, pool: mailbox, blocked: false }
                    deny_rules: { external_powershell: false, explicit_logon_vdir: false }
                """) + "\nadmin: { address: 0.0.0.0:9090 }\n"
        let (_, warnings) = try fixture.load(yaml)
        let text = warnings.map(\.description).joined(separator: "\n")
        #expect(warnings.allSatisfy { $0.severity == .warning && $0.line > 0 })
        #expect(text.contains("ActiveSync Ping holds a request for up to 3540 s"))
        #expect(text.contains("exposes /powershell to every client"))
        #expect(text.contains("lets an OWA or ECP explicit logon reach other services"))
        #expect(text.contains("admin endpoint listens on 0.0.0.0:9090"))
        #expect(text.contains(": warning: "))
    }
}

/// Cross-section conflicts.
@Suite struct ConfigConflictTests {
    @Test func adminEndpointCannotShareAListenerAddress() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml =
            ConfigFixture.minimal.replacingOccurrences(of: "address: 127.0.0.1:0", with: "address: 127.0.0.1:8443")
            + "\nadmin: { address: 127.0.0.1:8443 }\n"
        let errors = try fixture.errors(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.line == 18)
        #expect(errors.first?.message.contains("also listener 'https''s address") == true)
    }
}
