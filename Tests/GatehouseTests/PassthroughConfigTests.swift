import Foundation
import Testing

@testable import Gatehouse

/// `passthrough:` listeners: loaded with their routes and default, and every mistake (unknown pool,
/// a `tls` block next to it, a host SNI can never carry, a host twice, hosts on the default) refused
/// at its line with a hint.
@Suite struct PassthroughConfigTests {
    /// The minimal configuration plus a second listener with `passthrough:` `body` (6-space indented
    /// lines, starting on line 10).
    private func withPassthrough(_ body: String, extra: String = "") -> String {
        let listener = "  - name: pt\n    address: 127.0.0.1:0\n\(extra)    passthrough:\n\(body)\npools:"
        return ConfigFixture.minimal.replacingOccurrences(of: "pools:", with: listener)
    }

    @Test func routesAndDefaultAreLoaded() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, warnings) = try fixture.load(
            withPassthrough(
                """
                      routes:
                        - { hosts: [owa.contoso.lab, "*.contoso.lab"], pool: mailbox, send_proxy_protocol: v2 }
                      default: { pool: mailbox }
                      client_hello_timeout: 3s
                      idle_timeout: 10m
                """))
        #expect(warnings.isEmpty, "\(warnings)")
        let settings = try #require(config.listeners.last?.passthrough)
        #expect(
            settings.routes == [PassthroughRoute(hosts: ["owa.contoso.lab", "*.contoso.lab"], pool: "mailbox", sendProxyProtocol: true)])
        #expect(settings.defaultRoute == PassthroughRoute(hosts: [], pool: "mailbox"))
        #expect(settings.clientHelloTimeout == .seconds(3) && settings.idleTimeout == .seconds(600))
        // The runtime resolves it against the pools (indices by name).
        let plan = try PassthroughPlan(settings, poolIndex: { $0 == "mailbox" ? 0 : nil })
        #expect(
            plan.decide(.serverName("ews.contoso.lab"))
                == .forward(.init(poolIndex: 0, poolName: "mailbox", sendProxyProtocol: true), matched: true))
    }

    @Test func unknownPoolIsAnErrorAtItsLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(withPassthrough("      routes:\n        - { hosts: [owa.contoso.lab], pool: mailbx }"))
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.line == 11)
        #expect(error.message.contains("uses pool 'mailbx', which is not defined"))
        #expect(error.hint == "did you mean 'mailbox'?")
    }

    @Test func tlsBlockOnAPassthroughListenerIsRefused() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(
            withPassthrough(
                "      routes:\n        - { hosts: [owa.contoso.lab], pool: mailbox }",
                extra: "    tls:\n      certificates:\n        - { cert: ../certs/mail.pem, key: ../certs/mail.key }\n"))
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.message == "listener 'pt' has 'tls' and 'passthrough'")
        #expect(error.hint?.contains("takes no 'tls' block") == true)
        #expect(error.line == 12 || error.line == 13, "\(error)")
    }

    @Test func badHostsAreRefused() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(
            withPassthrough(
                """
                      routes:
                        - { hosts: ["*.com", 192.0.2.1, owa.contoso.lab], pool: mailbox }
                        - { hosts: [OWA.contoso.lab], pool: mailbox }
                      default: { hosts: [x.contoso.lab], pool: mailbox }
                """))
        let messages = errors.map(\.message)
        #expect(errors.count == 4, "\(messages)")
        #expect(messages.contains { $0.contains("'*.com' is not a host name or wildcard SNI can match") })
        #expect(messages.contains { $0.contains("'192.0.2.1' is not a host name") })
        #expect(messages.contains { $0.contains("host 'OWA.contoso.lab' is listed twice") })
        #expect(messages.contains { $0.contains("takes no 'hosts'") })
        #expect(errors.allSatisfy { $0.line >= 11 && $0.line <= 13 }, "\(errors)")
    }

    @Test func badSendProxyProtocolValue() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(
            withPassthrough("      routes:\n        - { hosts: [owa.contoso.lab], pool: mailbox, send_proxy_protocol: v1 }"))
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.hint?.contains("write 'v2'") == true)
    }

    /// A pool only pass-through routes use: counted as used (no "not used by any route" warning),
    /// and a `health:` block on it is refused, because nothing would ever probe its servers.
    @Test func healthOnAPoolOnlyPassthroughUsesIsRefused() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        func text(health: Bool) -> String {
            let pool =
                "  direct:\n    servers:\n      - { name: mbx02, address: 127.0.0.1:9445, tls_name: mbx02.contoso.lab }\n"
                + "    trust:\n      certificates: [../certs/mbx01.pem]\n" + (health ? "    health: { interval: 2s }\n" : "")
            return withPassthrough("      routes:\n        - { hosts: [owa.contoso.lab], pool: direct }")
                .replacingOccurrences(of: "services:", with: pool + "services:")
        }
        let (_, warnings) = try fixture.load(text(health: false))
        #expect(warnings.isEmpty, "\(warnings)")
        let (_, disabled) = try fixture.load(
            text(health: false).replacingOccurrences(
                of: "certificates: [../certs/mbx01.pem]\nservices:",
                with: "certificates: [../certs/mbx01.pem]\n    health: { enabled: false }\nservices:"))
        #expect(disabled.isEmpty, "\(disabled)")
        let errors = try fixture.errors(text(health: true))
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.message.contains("pool 'direct' is used only by pass-through routes"))
        #expect(error.line == text(health: true).components(separatedBy: "\n").firstIndex { $0.contains("health:") }! + 1)
        #expect(error.hint?.contains("remove 'health:'") == true)
    }
}
