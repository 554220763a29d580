import Foundation
import Testing

@testable import Gatehouse

/// `proxy_protocol` on listeners: `false` is off, the mapping turns it on with trusted sources, and
/// every mistake is an error at its line with a hint.
@Suite struct ProxyProtocolConfigTests {
    /// The minimal configuration with `old` replaced by `new` (which must occur).
    private func edit(_ old: String, _ new: String) -> String {
        precondition(ConfigFixture.minimal.contains(old), "fixture lacks \(old)")
        return ConfigFixture.minimal.replacingOccurrences(of: old, with: new)
    }

    /// The minimal configuration whose TLS listener has `proxy_protocol: <value>` on line 4.
    private func withProxyProtocol(_ value: String) -> String {
        edit("    address: 127.0.0.1:0", "    address: 127.0.0.1:0\n    proxy_protocol: \(value)")
    }

    @Test func mappingIsLoaded() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, warnings) = try fixture.load(
            withProxyProtocol("{ trusted_sources: [10.0.0.0/8, 127.0.0.1, \"2001:db8::/32\"], required: false, header_timeout: 2s }"))
        #expect(warnings.isEmpty)
        let settings = try #require(config.listeners.first?.proxyProtocol)
        #expect(settings.trustedSources == [try IPNetwork("10.0.0.0/8"), try IPNetwork("127.0.0.1/32"), try IPNetwork("2001:db8::/32")])
        #expect(settings.required == false)
        #expect(settings.headerTimeout == .seconds(2))
    }

    @Test func defaultsAreRequiredAndFiveSeconds() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, _) = try fixture.load(withProxyProtocol("{ trusted_sources: [127.0.0.1/32] }"))
        let settings = try #require(config.listeners.first?.proxyProtocol)
        #expect(settings.required && settings.headerTimeout == .seconds(5))
    }

    @Test func falseIsOff() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, warnings) = try fixture.load(withProxyProtocol("false"))
        #expect(warnings.isEmpty)
        #expect(config.listeners.count == 1 && config.listeners.first?.proxyProtocol == nil)
    }

    @Test func trueAloneIsRefusedAtItsLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(withProxyProtocol("true"))
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.line == 4 && error.column == 21)
        #expect(error.message == "'proxy_protocol' in listener 'https' is true, but PROXY protocol needs the balancers' addresses")
        #expect(error.hint?.contains("trusted_sources: [10.0.0.0/8]") == true)
        #expect(error.description.hasPrefix("\(fixture.path("conf/test.yaml")):4:21: error: "))
    }

    @Test func missingOrEmptyTrustedSourcesAreRefused() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let missing = try fixture.errors(withProxyProtocol("{ required: true }"))
        #expect(missing.count == 1 && missing.first?.line == 4, "\(missing)")
        #expect(missing.first?.message == "missing key 'trusted_sources' in 'proxy_protocol' in listener 'https'")
        let empty = try fixture.errors(withProxyProtocol("{ trusted_sources: [] }"))
        #expect(empty.count == 1 && empty.first?.message.contains("is empty") == true, "\(empty)")
    }

    @Test func badNetworkAndTimeoutAndUnknownKeyAreRefusedAtTheirLines() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml = withProxyProtocol("\n      trusted_sources: [10.0.0.1/8]\n      header_timeout: 0s\n      requried: true")
        let errors = try fixture.errors(yaml)
        #expect(errors.count == 3, "\(errors)")
        #expect(errors.map(\.line) == [5, 6, 7])
        #expect(errors[0].message.contains("host bits are set below /8") && errors[0].hint?.contains("CIDR") == true)
        #expect(errors[1].message.contains("must be longer than zero"))
        #expect(errors[2].message.contains("unknown key 'requried'") && errors[2].hint?.contains("required") == true)
    }

    @Test func aRedirectListenerTakesItToo() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml = edit(
            "pools:",
            "  - name: http\n    address: 127.0.0.1:0\n    proxy_protocol: { trusted_sources: [10.0.0.0/8] }\n"
                + "    redirect_to_https: 443\npools:")
        let (config, _) = try fixture.load(yaml)
        #expect(config.listeners.last?.redirectToHTTPSPort == 443)
        #expect(config.listeners.last?.proxyProtocol?.trustedSources == [try IPNetwork("10.0.0.0/8")])
    }
}
