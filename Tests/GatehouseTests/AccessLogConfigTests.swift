import Foundation
import Testing

@testable import Gatehouse

/// `access_log: { format, path }`: defaults, accepted values, and errors at file:line.
@Suite struct AccessLogConfigTests {
    @Test func defaultIsTextOnStandardOutput() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let configuration = try fixture.load(ConfigFixture.minimal).0
        #expect(configuration.accessLog == AccessLogConfiguration(format: .text, path: nil))
    }

    @Test func formatAndRelativePath() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let w3c = try fixture.load(ConfigFixture.minimal + "\naccess_log:\n  format: w3c\n  path: access.log\n").0
        #expect(w3c.accessLog == AccessLogConfiguration(format: .w3c, path: fixture.path("conf/access.log")))
        let json = try fixture.load(ConfigFixture.minimal + "\naccess_log: { format: json, path: stdout }\n").0
        #expect(json.accessLog == AccessLogConfiguration(format: .json, path: nil))
    }

    @Test func unknownFormatAndKeyAreErrorsAtTheirLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let lines = ConfigFixture.minimal.split(separator: "\n", omittingEmptySubsequences: false).count
        let errors = try fixture.errors(ConfigFixture.minimal + "\naccess_log:\n  format: jsn\n  rotate: daily\n")
        let format = try #require(errors.first { $0.message.contains("unknown value 'jsn'") }, "\(errors)")
        #expect(format.line == lines + 2)
        #expect(format.hint?.contains("json") == true)
        #expect(errors.contains { $0.message.contains("unknown key 'rotate'") })
    }

    @Test func pathInAMissingFolderOrAFolderIsRefused() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let missing = try fixture.errors(ConfigFixture.minimal + "\naccess_log:\n  path: nowhere/access.log\n")
        #expect(
            missing.contains { $0.message.contains("does not exist") && $0.message.contains("nowhere/access.log") },
            "\(missing)")
        let folder = try fixture.errors(ConfigFixture.minimal + "\naccess_log:\n  path: " + fixture.path("conf") + "\n")
        #expect(folder.contains { $0.message.contains("is a folder") }, "\(folder)")
    }
}
