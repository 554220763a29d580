import Testing

@testable import Gatehouse

/// The pool keys of issue 6 (`max_pinned_per_server`, a server's `drain`) and issue 13
/// (`max_connecting_per_server`, `queue_timeout`), with file:line errors.
@Suite struct BackendPoolConfigTests {
    private static func yaml(pool: String = "", server: String = "") -> String {
        ConfigFixture.minimal
            .replacingOccurrences(
                of: "- { name: mbx01, address: 127.0.0.1:9444, tls_name: mbx01.contoso.lab }",
                with: "- { name: mbx01, address: 127.0.0.1:9444, tls_name: mbx01.contoso.lab\(server) }"
            )
            .replacingOccurrences(
                of: "      certificates: [../certs/mbx01.pem]",
                with: "      certificates: [../certs/mbx01.pem]\n\(pool)")
    }

    @Test func defaultsAreAThousandPinnedAndNotDrained() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, _) = try fixture.load(Self.yaml())
        let pool = try #require(config.pools["mailbox"])
        #expect(pool.maxPinnedPerServer == 1000)
        #expect(pool.servers.first?.drain == false)
        #expect(pool.health.enabled)
    }

    @Test func keysAreRead() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, _) = try fixture.load(
            Self.yaml(
                pool: "    max_pinned_per_server: 5\n    health: { enabled: false }", server: ", drain: true"))
        let pool = try #require(config.pools["mailbox"])
        #expect(!pool.health.enabled)
        #expect(pool.maxPinnedPerServer == 5)
        #expect(pool.servers.first?.drain == true)
    }

    @Test func anOutOfRangeCapIsAnErrorWithItsLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(Self.yaml(pool: "    max_pinned_per_server: 0"))
        let error = try #require(errors.first)
        #expect(errors.count == 1)
        #expect(error.line == 13)  // the max_pinned_per_server line
        #expect(error.description.contains("0"))
    }

    @Test func connectCapAndQueueTimeoutDefaults() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, _) = try fixture.load(Self.yaml())
        let pool = try #require(config.pools["mailbox"])
        #expect(pool.maxConnectingPerServer == 32)
        #expect(pool.queueTimeout == .seconds(3))
    }

    @Test func connectCapAndQueueTimeoutAreRead() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, _) = try fixture.load(Self.yaml(pool: "    max_connecting_per_server: 4\n    queue_timeout: 750ms"))
        let pool = try #require(config.pools["mailbox"])
        #expect(pool.maxConnectingPerServer == 4)
        #expect(pool.queueTimeout == .milliseconds(750))
    }

    @Test func aZeroConnectCapIsAnErrorWithItsLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(Self.yaml(pool: "    max_connecting_per_server: 0"))
        let error = try #require(errors.first)
        #expect(errors.count == 1)
        #expect(error.line == 13)
        #expect(error.description.contains("max_connecting_per_server"))
    }

    @Test func aBadQueueTimeoutIsAnErrorWithItsLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        for value in ["0s", "soon"] {
            let errors = try fixture.errors(Self.yaml(pool: "    health: { enabled: false }\n    queue_timeout: \(value)"))
            let error = try #require(errors.first)
            #expect(errors.count == 1)
            #expect(error.line == 14)
            #expect(error.description.contains("queue_timeout"))
        }
    }

    @Test func aQueueTimeoutNotBelowARoutesConnectTimeoutIsWarnedAbout() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (_, quiet) = try fixture.load(Self.yaml(pool: "    queue_timeout: 2s"))
        #expect(!quiet.contains { $0.description.contains("queue_timeout") })
        let (_, warnings) = try fixture.load(Self.yaml(pool: "    queue_timeout: 10s"))
        let warning = try #require(warnings.first { $0.description.contains("queue_timeout") })
        #expect(warning.line == 13)
        #expect(warning.description.contains("connect timeout"))
    }
}
