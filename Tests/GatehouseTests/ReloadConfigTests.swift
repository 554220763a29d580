import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import Gatehouse

/// `limits.shutdown_grace`, the warnings for settings a reload cannot apply, and reloads running
/// one at a time.
@Suite struct ReloadConfigTests {
    @Test func shutdownGraceDefaultsToThirtySecondsAndIsConfigurable() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        #expect(try fixture.load(ConfigFixture.minimal).0.limits.shutdownGrace == .seconds(30))
        let (config, _) = try fixture.load(ConfigFixture.minimal + "\nlimits:\n  shutdown_grace: 5s\n")
        #expect(config.limits.shutdownGrace == .seconds(5))
    }

    @Test func aBadShutdownGraceIsAnErrorAtItsLine() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  shutdown_grace: soon\n")
        let error = try #require(errors.first)
        #expect(errors.count == 1)
        #expect(error.line == 19 && error.message.contains("shutdown_grace"))
        #expect(error.description.hasPrefix(fixture.path("conf/test.yaml") + ":19:"))
        let zero = try fixture.errors(ConfigFixture.minimal + "\nlimits:\n  shutdown_grace: 0s\n")
        #expect(zero.count == 1 && zero[0].message.contains("longer than zero"))
    }

    @Test func restartOnlySettingsThatChangedAreNamed() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (old, _) = try fixture.load(ConfigFixture.minimal)
        let (same, _) = try fixture.load(ConfigFixture.minimal + "\nlimits:\n  shutdown_grace: 5s\n")
        #expect(RestartOnlySettings.changes(from: old, to: same).isEmpty)
        let (changed, _) = try fixture.load(
            ConfigFixture.minimal + """

                limits:
                  max_connections: 10
                admin:
                  address: 127.0.0.1:9091
                """)
        let warnings = RestartOnlySettings.changes(from: old, to: changed)
        #expect(warnings.count == 2)
        #expect(warnings[0].contains("limits.max_connections changed from 20000 to 10"))
        #expect(warnings[1].contains("admin.address changed from none to 127.0.0.1:9091"))
    }

    @Test func reloadsRunOneAtATimeInOrder() async {
        let queue = ReloadQueue()
        let log = NIOLockedValueBox<(running: Int, most: Int, order: [String])>((0, 0, []))
        queue.install { trigger in
            log.withLockedValue {
                $0.running += 1
                $0.most = max($0.most, $0.running)
                $0.order.append(trigger)
            }
            try? await Task.sleep(for: .milliseconds(20))
            log.withLockedValue { $0.running -= 1 }
            return ReloadOutcome(applied: true)
        }
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<5 {
                group.addTask { await queue.reload(trigger: "r\(index)").applied }
            }
            for await applied in group { #expect(applied) }
        }
        let (running, most, order) = log.withLockedValue { $0 }
        #expect(running == 0 && most == 1 && order.count == 5)
    }
}
