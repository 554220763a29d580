import Foundation
import GatehouseHTTP2
import NIOCore
import Testing

@testable import Gatehouse

/// `limits.http2` and the HTTP/2 settings a TLS listener gets from the file: the keys reach
/// `HTTP2Settings`, `client_idle_timeout` becomes the session's idle clock, and values HTTP/2
/// cannot carry are refused at their line.
@Suite struct HTTP2LimitsConfigTests {
    @Test func defaultsAreHTTP2SettingsDefaultsWithTheFileIdleTimeout() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, _) = try fixture.load(ConfigFixture.minimal + "\nlimits: { client_idle_timeout: 30s, client_header_timeout: 7s }\n")
        let settings = config.limits.http2Settings
        let defaults = HTTP2Settings()
        #expect(settings.maxConcurrentStreams == defaults.maxConcurrentStreams)
        #expect(settings.initialStreamWindowSize == defaults.initialStreamWindowSize)
        #expect(settings.connectionWindowSize == defaults.connectionWindowSize)
        #expect(settings.uploadWindowSize == defaults.uploadWindowSize)
        #expect(settings.maxHeaderListSize == 256 * 1024)
        #expect(settings.idleTimeout == .seconds(30))
        #expect(settings.headerTimeout == .seconds(7))
    }

    @Test func theKeysReachTheSessionSettings() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml =
            ConfigFixture.minimal + """

                limits:
                  max_header_total: 128KiB
                  http2: { max_concurrent_streams: 20, initial_window_size: 256KiB, connection_window_size: 4MiB,
                           upload_window_size: 2MiB }

                """
        let settings = try fixture.load(yaml).0.limits.http2Settings
        #expect(settings.maxConcurrentStreams == 20)
        #expect(settings.initialStreamWindowSize == 256 * 1024)
        #expect(settings.connectionWindowSize == 4 * 1024 * 1024)
        #expect(settings.uploadWindowSize == 2 * 1024 * 1024)
        #expect(settings.maxHeaderListSize == 128 * 1024)
        #expect(settings.idleTimeout == .seconds(120))
    }

    @Test(arguments: [
        ("max_concurrent_streams: 0", "'max_concurrent_streams' in 'http2' of 'limits' must be between 1 and 1000, not 0"),
        ("max_concurrent_streams: 5000", "must be between 1 and 1000, not 5000"),
        ("initial_window_size: 100B", "'initial_window_size' in 'http2' of 'limits' must be between 1KiB and"),
        ("connection_window_size: 3GiB", "'connection_window_size' in 'http2' of 'limits' must be between"),
        ("connection_window_size: 1KiB", "must be between 65535B and"),
        ("initial_window_size: 1 MB", "invalid size '1 MB' for 'initial_window_size'"),
        ("upload_window_size: 3GiB", "'upload_window_size' in 'http2' of 'limits' must be between 1KiB and"),
        ("upload_window_size: 32MiB", "(32MiB) is larger than connection_window_size (16MiB)"),
        ("upload_window_size: 16KiB", "(16KiB) is smaller than initial_window_size (64KiB)")
    ])
    func badValuesAreErrorsAtTheirLine(line: String, message: String) throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  http2:\n    \(line)\n")
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.line == 20, "\(error)")
        #expect(error.message.contains(message), "\(error)")
    }

    @Test func aStreamWindowLargerThanTheConnectionsIsRefused() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml =
            ConfigFixture.minimal
            + "\nlimits:\n  http2:\n    connection_window_size: 1MiB\n    initial_window_size: 2MiB\n"
        let errors = try fixture.errors(yaml)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.line == 21)
        #expect(errors.first?.message.contains("(2MiB) is larger than connection_window_size (1MiB)") == true)
    }

    @Test func leftOutTheUploadWindowStaysWithinTheOtherTwo() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let small = "\nlimits:\n  http2:\n    connection_window_size: 512KiB\n"
        #expect(try fixture.load(ConfigFixture.minimal + small).0.limits.http2.uploadWindowSize == 512 * 1024)
        let large = "\nlimits:\n  http2:\n    initial_window_size: 4MiB\n    connection_window_size: 8MiB\n"
        #expect(try fixture.load(ConfigFixture.minimal + large).0.limits.http2.uploadWindowSize == 4 * 1024 * 1024)
    }

    @Test func aMisspeltKeyIsRefusedWithASuggestion() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  http2:\n    max_concurent_streams: 5\n")
        #expect(errors.first?.message == "unknown key 'max_concurent_streams' in 'http2' of 'limits'")
        #expect(errors.first?.hint == "did you mean 'max_concurrent_streams'?")
    }
}
