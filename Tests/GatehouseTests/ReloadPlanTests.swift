import Testing

@testable import Gatehouse

/// The pure parts of a reload: which listener sockets stay, are bound or closed; which health
/// and drain state survives; the restart-only settings.
@Suite struct ReloadPlanTests {
    typealias Key = ListenerPlan.Key

    @Test func unchangedAddressesKeepTheirSocketsAddedAreBoundRemovedAreClosed() {
        let https = Key(name: "https", host: "127.0.0.1", port: 8443)
        let http = Key(name: "http", host: "127.0.0.1", port: 8080)
        let extra = Key(name: "extra", host: "127.0.0.1", port: 9443)
        let plan = ListenerPlan(old: [https, http], new: [extra, https])
        #expect(plan == ListenerPlan(keep: [https], bind: [extra], close: [http]))
    }

    @Test func aRenamedListenerOnTheSameAddressKeepsItsSocket() {
        let plan = ListenerPlan(
            old: [Key(name: "https", host: "0.0.0.0", port: 443)],
            new: [Key(name: "front", host: "0.0.0.0", port: 443)])
        #expect(plan.keep.count == 1 && plan.bind.isEmpty && plan.close.isEmpty)
    }

    @Test func portZeroListenersAreToldApartByName() {
        let a = Key(name: "a", host: "127.0.0.1", port: 0)
        let b = Key(name: "b", host: "127.0.0.1", port: 0)
        let plan = ListenerPlan(old: [a], new: [a, b])
        #expect(plan == ListenerPlan(keep: [a], bind: [b], close: []))
    }

    @Test func theSameConfigurationChangesNothing() {
        let keys = [Key(name: "https", host: "::1", port: 443), Key(name: "http", host: "::1", port: 80)]
        #expect(ListenerPlan(old: keys, new: keys) == ListenerPlan(keep: keys, bind: [], close: []))
    }

    // MARK: health carry-over

    private func server(_ name: String, port: Int = 444, drain: Bool = false) -> HealthCarryOver.Server {
        HealthCarryOver.Server(name: name, host: "127.0.0.1", port: port, tlsName: "\(name).lab", drain: drain)
    }

    private func shape(
        _ servers: [HealthCarryOver.Server], paths: [String] = ["/owa/healthcheck.htm"],
        name: String = "mailbox"
    ) -> HealthCarryOver.Shape {
        HealthCarryOver.Shape(name: name, servers: servers, healthPaths: paths, rise: 2, fall: 2)
    }

    /// A state where `down` servers failed enough probes to be out of rotation.
    private func state(_ shape: HealthCarryOver.Shape, down: Set<String>, drained: Set<String> = []) -> HealthRegistry.PoolState {
        var state = HealthCarryOver.fresh(shape)
        for (index, server) in shape.servers.enumerated() {
            if down.contains(server.name) {
                for path in shape.healthPaths.indices {
                    _ = state.checks[path][index].record(success: false)
                    _ = state.checks[path][index].record(success: false)
                    state.lastResult[path][index] = "connect failed"
                }
            }
            if drained.contains(server.name) { state.draining[index] = true }
        }
        return state
    }

    @Test func unchangedServersKeepHealthAndAdminDrainWhenAnotherServerIsRemoved() {
        let old = shape([server("mbx01"), server("mbx02"), server("mbx03")])
        let before = state(old, down: ["mbx02"], drained: ["mbx03"])
        #expect(!before.checks[0][1].isHealthy)
        let new = shape([server("mbx02"), server("mbx03")])
        let after = HealthCarryOver.carry(old: [(old, before)], new: [new])[0]
        #expect(after.checks[0].map(\.isHealthy) == [false, true])
        #expect(after.lastResult[0][0] == "connect failed")
        #expect(after.draining == [false, true])
    }

    @Test func aServerWhoseAddressChangedOrThatIsNewStartsFresh() {
        let old = shape([server("mbx01"), server("mbx02")])
        let before = state(old, down: ["mbx01", "mbx02"])
        let new = shape([server("mbx01", port: 445), server("mbx02"), server("mbx04")])
        let after = HealthCarryOver.carry(old: [(old, before)], new: [new])[0]
        #expect(after.checks[0].map(\.isHealthy) == [true, false, true])
        #expect(after.lastResult[0][0] == "not probed yet" && after.lastResult[0][2] == "not probed yet")
    }

    @Test func anEditedDrainFlagWinsOverTheRuntimeOne() {
        let old = shape([server("mbx01"), server("mbx02")])
        let before = state(old, down: [], drained: ["mbx01", "mbx02"])
        // mbx01's `drain:` is now true (unchanged runtime: drained); mbx02 keeps `drain: false`
        // in the file, so its admin drain survives.
        let new = shape([server("mbx01", drain: true), server("mbx02")])
        var after = HealthCarryOver.carry(old: [(old, before)], new: [new])[0]
        #expect(after.draining == [true, true])
        // Undrained by the admin, then `drain: true` removed from the file: the file wins.
        var undrained = before
        undrained.draining = [false, true]
        let edited = shape([server("mbx01", drain: true), server("mbx02")])
        let back = shape([server("mbx01"), server("mbx02")])
        after = HealthCarryOver.carry(old: [(edited, undrained)], new: [back])[0]
        #expect(after.draining == [false, true])
    }

    @Test func healthIsCarriedPerPathAndANewPathStartsFresh() {
        let old = shape([server("mbx01")], paths: ["/ews/healthcheck.htm", "/owa/healthcheck.htm"])
        let before = state(old, down: ["mbx01"])
        let new = shape([server("mbx01")], paths: ["/mapi/healthcheck.htm", "/owa/healthcheck.htm"])
        let after = HealthCarryOver.carry(old: [(old, before)], new: [new])[0]
        #expect(after.checks.map { $0[0].isHealthy } == [true, false])
    }

    @Test func aNewPoolOrARenamedOneStartsFresh() {
        let old = shape([server("mbx01")])
        let before = state(old, down: ["mbx01"])
        let after = HealthCarryOver.carry(old: [(old, before)], new: [shape([server("mbx01")], name: "other")])[0]
        #expect(after.checks[0][0].isHealthy)
    }

    @Test func newThresholdsApplyToTheCarriedState() {
        let old = shape([server("mbx01")])
        var before = HealthCarryOver.fresh(old)
        _ = before.checks[0][0].record(success: false)  // 1 of fall 2
        var new = shape([server("mbx01")])
        new.fall = 2
        new.rise = 5
        var after = HealthCarryOver.carry(old: [(old, before)], new: [new])[0]
        #expect(after.checks[0][0].rise == 5)
        let transition = after.checks[0][0].record(success: false)
        #expect(transition == .wentDown)
    }
}
