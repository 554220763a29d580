import Foundation
import Testing

@testable import Gatehouse

/// `limits.max_redirect_connections`: the redirect listeners' own connection cap, validated like `max_connections`.
@Suite struct RedirectLimitsConfigTests {
    @Test func maxRedirectConnectionsIsReadWithADefault() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        #expect(try fixture.load(ConfigFixture.minimal).0.limits.maxRedirectConnections == 1024)
        let (config, _) = try fixture.load(ConfigFixture.minimal + "\nlimits: { max_connections: 20, max_redirect_connections: 5 }\n")
        #expect(config.limits.maxConnections == 20)
        #expect(config.limits.maxRedirectConnections == 5)
    }

    @Test(arguments: [0, -5])
    func maxRedirectConnectionsBelowOneIsAnErrorAtItsValue(value: Int) throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  max_redirect_connections: \(value)\n")
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.line == 19 && error.column == 29)
        #expect(error.message == "'max_redirect_connections' in 'limits' must be at least 1, not \(value)")
        #expect(error.hint?.contains("leave the key out for the default, 1024") == true)
        #expect(error.description.hasPrefix("\(fixture.path("conf/test.yaml")):19:29: error: "))
    }

    @Test func maxRedirectConnectionsMustBeANumber() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  max_redirect_connections: lots\n")
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.line == 19)
        #expect(errors.first?.message == "'max_redirect_connections' in 'limits' must be a whole number, found 'lots'")
    }

    @Test func maxConnectionsBelowOneIsStillAnError() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  max_connections: 0\n")
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.line == 19)
        #expect(errors.first?.message == "'max_connections' in 'limits' must be at least 1, not 0")
    }

    @Test func misspeltKeySuggestsMaxRedirectConnections() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  max_redirect_connection: 5\n")
        #expect(errors.first?.message == "unknown key 'max_redirect_connection' in 'limits'")
        #expect(errors.first?.hint == "did you mean 'max_redirect_connections'?")
    }
}
