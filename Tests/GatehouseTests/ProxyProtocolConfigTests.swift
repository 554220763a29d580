import Foundation
import Testing

@testable import Gatehouse

/// `proxy_protocol: true` is refused at its line (PROXY protocol is not implemented); `false` is accepted.
@Suite struct ProxyProtocolConfigTests {
    /// The minimal configuration with `old` replaced by `new` (which must occur).
    private func edit(_ old: String, _ new: String) -> String {
        precondition(ConfigFixture.minimal.contains(old), "fixture lacks \(old)")
        return ConfigFixture.minimal.replacingOccurrences(of: old, with: new)
    }

    @Test func proxyProtocolTrueIsRefusedAtItsLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(edit("    address: 127.0.0.1:0", "    address: 127.0.0.1:0\n    proxy_protocol: true"))
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.line == 4 && error.column == 21)
        #expect(error.message == "'proxy_protocol' in listener 'https' is true, but PROXY protocol is not implemented yet")
        #expect(error.hint?.contains("remove the 'proxy_protocol' key") == true)
        #expect(error.description.hasPrefix("\(fixture.path("conf/test.yaml")):4:21: error: "))
    }

    @Test func proxyProtocolTrueIsRefusedOnARedirectListenerToo() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml = edit("pools:", "  - name: http\n    address: 127.0.0.1:0\n    proxy_protocol: true\n    redirect_to_https: 443\npools:")
        let errors = try fixture.errors(yaml)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.line == 9)
        #expect(errors.first?.message.contains("'proxy_protocol' in listener 'http' is true") == true)
    }

    @Test func proxyProtocolFalseIsAccepted() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, warnings) = try fixture.load(edit("    address: 127.0.0.1:0", "    address: 127.0.0.1:0\n    proxy_protocol: false"))
        #expect(warnings.isEmpty)
        #expect(config.listeners.count == 1)
    }
}
