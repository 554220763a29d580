import Testing

@testable import Gatehouse

/// Rise/fall health checks, passive ejection and the published health view.
@Suite struct HealthStateTests {
    @Test func fallAndRiseThresholds() {
        var check = HealthCheck(rise: 2, fall: 3)
        #expect(check.isHealthy)
        #expect(check.record(success: false) == nil)
        #expect(check.record(success: false) == nil)
        #expect(check.record(success: true) == nil)   // a success resets the failure count
        #expect(check.record(success: false) == nil)
        #expect(check.record(success: false) == nil)
        #expect(check.record(success: false) == .wentDown)
        #expect(!check.isHealthy)
        #expect(check.record(success: false) == nil)   // logged once, not per probe
        #expect(check.record(success: true) == nil)
        #expect(check.record(success: false) == nil)   // a failure resets the success count
        #expect(check.record(success: true) == nil)
        #expect(check.record(success: true) == .cameUp)
        #expect(check.record(success: true) == nil)
        #expect(check.isHealthy)
    }

    @Test func connectFailuresEjectWithGrowingBackoff() {
        var ejection = PassiveEjection()
        let second: UInt64 = 1_000_000_000
        #expect(ejection.connectFailed(now: 10 * second))
        #expect(ejection.isSuspect(now: 10 * second + second / 2))
        #expect(!ejection.isSuspect(now: 11 * second + 1))
        #expect(ejection.connectFailed(now: 12 * second))          // second strike: 2 s
        #expect(ejection.isSuspect(now: 13 * second + second / 2))
        #expect(!ejection.isSuspect(now: 14 * second + 1))
        ejection.connected()
        #expect(!ejection.isSuspect(now: 12 * second))
        #expect(ejection.failures == 0)
    }

    @Test func aBurstOfGatewayErrorsEjectsButSOAPFaultsDoNot() {
        var ejection = PassiveEjection()
        for _ in 0..<20 { #expect(!ejection.responded(status: 500, now: 0)) }
        for _ in 0..<(PassiveEjection.burst - 1) { #expect(!ejection.responded(status: 502, now: 0)) }
        #expect(!ejection.responded(status: 200, now: 0))   // the streak is broken
        for _ in 0..<(PassiveEjection.burst - 1) { #expect(!ejection.responded(status: 503, now: 0)) }
        #expect(ejection.responded(status: 504, now: 0))
        #expect(ejection.isSuspect(now: 1))
    }

    @Test func serviceHealthIsPerServiceAndDrainWins() {
        // Two services (0 = ews, 1 = owa), two servers; EWS down on server 0.
        let view = PoolHealthView(generation: 1, serviceUp: [[false, true], [true, true]], draining: [false, false])
        #expect(!view.accepts(server: 0, service: 0))
        #expect(view.accepts(server: 0, service: 1))
        #expect(view.accepts(server: 0, service: nil))   // server level: not every service is down
        let dead = PoolHealthView(generation: 2, serviceUp: [[false, true], [false, true]], draining: [false, true])
        #expect(!dead.accepts(server: 0, service: nil))
        #expect(!dead.accepts(server: 1, service: 1))   // drained
        let unprobed = PoolHealthView(generation: 3, serviceUp: [], draining: [false])
        #expect(unprobed.accepts(server: 0, service: nil))
    }
}
