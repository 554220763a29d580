import Logging
import NIOConcurrencyHelpers
import NIOEmbedded
import Testing

@testable import Gatehouse

/// Extended Protection at run time: the match decision, the rotation exclusion of mismatching
/// servers (bridged, NTLM routes only), and the state change logged once.
@Suite struct ExtendedProtectionRuntimeTests {
    static let frontHash: [UInt8] = Array(repeating: 0xAA, count: 32)
    static let otherHash: [UInt8] = Array(repeating: 0xBB, count: 32)
    static let front = PresentedCertificate(bindingHash: frontHash, thumbprint: "AA:FRONT")
    static let other = PresentedCertificate(bindingHash: otherHash, thumbprint: "BB:OTHER")

    static func front(_ setting: ExtendedProtectionSetting, keyType: String = "RSA") -> ChannelBindingFront {
        ChannelBindingFront(
            service: 0, serviceName: "contoso", setting: setting, host: "mail.contoso.lab", keyType: keyType,
            certificate: front, pools: ["mailbox"])
    }

    @Test func theVerdictComparesTheChannelBindingHashes() {
        #expect(ChannelBindingVerdict.of(front: Self.frontHash, presented: Self.frontHash) == .match)
        #expect(ChannelBindingVerdict.of(front: Self.frontHash, presented: Self.otherHash) == .mismatch)
        #expect(ChannelBindingVerdict.of(front: Self.frontHash, presented: nil) == .unknown)
        // A hash OpenSSL could not compute never counts as a match.
        #expect(ChannelBindingVerdict.of(front: [], presented: []) == .mismatch)
    }

    @Test func onlyAKnownMismatchUnderBridgedOnAnNTLMRouteExcludes() {
        #expect(ChannelBindingVerdict.mismatch.excludes(setting: .bridged, routeUsesWindowsAuthentication: true))
        #expect(!ChannelBindingVerdict.mismatch.excludes(setting: .bridged, routeUsesWindowsAuthentication: false))
        #expect(!ChannelBindingVerdict.mismatch.excludes(setting: .warn, routeUsesWindowsAuthentication: true))
        #expect(!ChannelBindingVerdict.mismatch.excludes(setting: .off, routeUsesWindowsAuthentication: true))
        #expect(!ChannelBindingVerdict.unknown.excludes(setting: .bridged, routeUsesWindowsAuthentication: true))
        #expect(!ChannelBindingVerdict.match.excludes(setting: .bridged, routeUsesWindowsAuthentication: true))
    }

    @Test func theTableExcludesMismatchingServersForTheServiceUnderBridgedOnly() {
        let presented: [[PresentedCertificate?]] = [[Self.front, Self.other, nil]]
        for setting in [ExtendedProtectionSetting.bridged, .warn] {
            let fronts = [Self.front(setting)]
            let rows = ChannelBindingTable.rows(fronts: fronts, poolNames: ["mailbox"], presented: presented)
            #expect(rows.map(\.verdict) == [.match, .mismatch, .unknown])
            let excluded = ChannelBindingTable.exclusions(rows: rows, fronts: fronts, serverCounts: [3])
            #expect(excluded[0] == (setting == .bridged ? [0: [false, true, false]] : [:]))
        }
        // A front whose pool is not in the runtime compares nothing.
        let elsewhere = ChannelBindingFront(
            service: 1, serviceName: "other", setting: .bridged, host: "x", keyType: "RSA", certificate: Self.front,
            pools: ["absent"])
        #expect(ChannelBindingTable.rows(fronts: [elsewhere], poolNames: ["mailbox"], presented: presented).isEmpty)
    }

    @Test func aServerMismatchingEitherKeyTypesCertificateMismatchesTheService() {
        let ecdsa = PresentedCertificate(bindingHash: Self.otherHash, thumbprint: "BB:OTHER")
        var second = Self.front(.bridged, keyType: "ECDSA")
        second.certificate = ecdsa
        let fronts = [Self.front(.bridged), second]
        let presented: [[PresentedCertificate?]] = [[Self.front, nil]]
        let rows = ChannelBindingTable.rows(fronts: fronts, poolNames: ["mailbox"], presented: presented)
        let states = ChannelBindingTable.states(
            rows: rows, fronts: fronts, poolNames: ["mailbox"], serverNames: [["mbx01", "mbx02"]], presented: presented)
        let mbx01 = ChannelBindingTable.Key(service: "contoso", pool: "mailbox", server: "mbx01")
        #expect(states.mismatched[mbx01]?.front == ecdsa)
        #expect(states.matched.isEmpty)  // mbx02 is unknown: neither
    }

    @Test func changesAreReportedOncePerTransition() {
        let fronts = [Self.front(.bridged)]
        let key = ChannelBindingTable.Key(service: "contoso", pool: "mailbox", server: "mbx01")
        func step(_ certificate: PresentedCertificate?, before: Set<ChannelBindingTable.Key>)
            -> (changes: [ChannelBindingTable.Change], now: Set<ChannelBindingTable.Key>)
        {
            let presented: [[PresentedCertificate?]] = [[certificate]]
            let rows = ChannelBindingTable.rows(fronts: fronts, poolNames: ["mailbox"], presented: presented)
            let states = ChannelBindingTable.states(
                rows: rows, fronts: fronts, poolNames: ["mailbox"], serverNames: [["mbx01"]], presented: presented)
            return (ChannelBindingTable.changes(before: before, now: states), Set(states.mismatched.keys))
        }
        let first = step(nil, before: [])
        #expect(first.changes.isEmpty)  // unknown: nothing to say
        let matching = step(Self.front, before: first.now)
        #expect(matching.changes.isEmpty)  // unknown to match is the normal start
        let wrong = step(Self.other, before: matching.now)
        #expect(
            wrong.changes == [
                ChannelBindingTable.Change(
                    key: key, mismatched: true, setting: .bridged, front: Self.front, presented: Self.other)
            ])
        #expect(step(Self.other, before: wrong.now).changes.isEmpty)
        let fixed = step(Self.front, before: wrong.now)
        #expect(fixed.changes.map(\.mismatched) == [false])
        #expect(fixed.now.isEmpty)
    }

    @Test func theRegistryExcludesForNTLMRoutesAndLogsEachChangeOnce() throws {
        let pool = try PassiveEjectionTableTests.pool()  // "mailbox": mbx01, mbx02; services ews, owa
        let lines = NIOLockedValueBox<[(Logger.Level, String)]>([])
        let published = NIOLockedValueBox<[PoolHealthView]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let registry = HealthRegistry(pools: [pool], fronts: [Self.front(.bridged)], logger: logger) { views in
            published.withLockedValue { $0 = views }
        }
        registry.record(epoch: 0, pool: 0, service: 0, server: 0, success: true, detail: "200 OK", presented: Self.front)
        registry.record(epoch: 0, pool: 0, service: 0, server: 1, success: true, detail: "200 OK", presented: Self.other)
        registry.record(epoch: 0, pool: 0, service: 1, server: 1, success: true, detail: "200 OK", presented: Self.other)
        let warnings = lines.withLockedValue { $0 }.filter { $0.0 == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.1.contains("server=mbx02") == true)
        #expect(warnings.first?.1.contains("front_sha256=AA:FRONT") == true)
        #expect(warnings.first?.1.contains("presented_sha256=BB:OTHER") == true)
        let view = try #require(published.withLockedValue { $0 }.first)
        #expect(view.bindingExcluded == [0: [false, true]])

        // The data path: EWS over NTLM (binding service 0) never picks mbx02; OWA still does.
        let loop = EmbeddedEventLoop()
        let onLoop = LoopBackendPool(pool: pool, eventLoop: loop)
        onLoop.apply(view)
        for _ in 0..<8 {
            #expect(onLoop.choose(service: 0, bindingService: 0, anchor: nil, excluding: [], needsPinnedRoom: false) == .server(0))
        }
        let owa = (0..<8).map { _ in onLoop.choose(service: 1, anchor: nil, excluding: [], needsPinnedRoom: false) }
        #expect(owa.contains(.server(1)))
        // Only mbx02 left for NTLM: no server rather than one whose logons cannot succeed.
        #expect(
            onLoop.choose(service: 0, bindingService: 0, anchor: nil, excluding: [0], needsPinnedRoom: false) == .noHealthyServer)

        // A later handshake with the right certificate brings it back, with one info line.
        registry.record(epoch: 0, pool: 0, service: 0, server: 1, success: true, detail: "200 OK", presented: Self.front)
        #expect(published.withLockedValue { $0 }.first?.bindingExcluded == [:])
        let infos = lines.withLockedValue { $0 }.filter { $0.0 == .info && $0.1.contains("matches the front again") }
        #expect(infos.count == 1)
        try loop.syncShutdownGracefully()
    }

    @Test func aReloadKeepsThePresentedCertificateOfTheSameServerOnly() {
        let server = HealthCarryOver.Server(name: "mbx01", host: "10.0.0.11", port: 443, tlsName: "mail", drain: false)
        var moved = server
        moved.host = "10.0.0.99"
        let old = HealthCarryOver.Shape(name: "mailbox", servers: [server], healthPaths: ["/EWS/"], rise: 2, fall: 3)
        var state = HealthCarryOver.fresh(old)
        #expect(state.presented == [nil])
        state.presented[0] = Self.other
        let kept = HealthCarryOver.carry(old: [(old, state)], new: [old])
        #expect(kept[0].presented == [Self.other])
        let elsewhere = HealthCarryOver.Shape(name: "mailbox", servers: [moved], healthPaths: ["/EWS/"], rise: 2, fall: 3)
        #expect(HealthCarryOver.carry(old: [(old, state)], new: [elsewhere])[0].presented == [nil])
    }

    @Test func underWarnTheMismatchIsLoggedButNothingIsExcluded() throws {
        let pool = try PassiveEjectionTableTests.pool()
        let lines = NIOLockedValueBox<[(Logger.Level, String)]>([])
        let published = NIOLockedValueBox<[PoolHealthView]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(lines: lines) }
        let registry = HealthRegistry(pools: [pool], fronts: [Self.front(.warn)], logger: logger) { views in
            published.withLockedValue { $0 = views }
        }
        registry.record(epoch: 0, pool: 0, service: 0, server: 1, success: true, detail: "200 OK", presented: Self.other)
        #expect(lines.withLockedValue { $0 }.filter { $0.0 == .warning }.count == 1)
        #expect(published.withLockedValue { $0 }.first?.bindingExcluded == [:])
        let rows = registry.bindingPicture().rows
        #expect(rows.map(\.verdict) == [.unknown, .mismatch])
    }
}

/// Keeps every log line (level, message and metadata) for assertions.
struct CapturingLogHandler: LogHandler {
    let lines: NIOLockedValueBox<[(Logger.Level, String)]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let text = "\(event.message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.withLockedValue { $0.append((event.level, text)) }
    }
}
