import Testing

@testable import Gatehouse

/// Rise/fall health checks, passive ejection and the published health view.
@Suite struct HealthStateTests {
    @Test func fallAndRiseThresholds() {
        var check = HealthCheck(rise: 2, fall: 3)
        #expect(check.isHealthy)
        let step1 = check.record(success: false)
        #expect(step1 == nil)
        let step2 = check.record(success: false)
        #expect(step2 == nil)
        let step3 = check.record(success: true)  // a success resets the failure count
        #expect(step3 == nil)
        let step4 = check.record(success: false)
        #expect(step4 == nil)
        let step5 = check.record(success: false)
        #expect(step5 == nil)
        let step6 = check.record(success: false)
        #expect(step6 == .wentDown)
        #expect(!check.isHealthy)
        let step7 = check.record(success: false)  // logged once, not per probe
        #expect(step7 == nil)
        let step8 = check.record(success: true)
        #expect(step8 == nil)
        let step9 = check.record(success: false)  // a failure resets the success count
        #expect(step9 == nil)
        let step10 = check.record(success: true)
        #expect(step10 == nil)
        let step11 = check.record(success: true)
        #expect(step11 == .cameUp)
        let step12 = check.record(success: true)
        #expect(step12 == nil)
        #expect(check.isHealthy)
    }

    @Test func connectFailuresEjectWithGrowingBackoff() {
        var ejection = PassiveEjection()
        let second: UInt64 = 1_000_000_000
        let step13 = ejection.connectFailed(now: 10 * second)
        #expect(step13)
        #expect(ejection.isSuspect(now: 10 * second + second / 2))
        #expect(!ejection.isSuspect(now: 11 * second + 1))
        let step14 = ejection.connectFailed(now: 12 * second)  // second strike: 2 s
        #expect(step14)
        #expect(ejection.isSuspect(now: 13 * second + second / 2))
        #expect(!ejection.isSuspect(now: 14 * second + 1))
        ejection.connected()
        #expect(!ejection.isSuspect(now: 12 * second))
        #expect(ejection.failures == 0)
    }

    @Test func aBurstOfGatewayErrorsEjectsButSOAPFaultsDoNot() {
        var ejection = PassiveEjection()
        for _ in 0..<20 {
            let ejected = ejection.responded(status: 500, now: 0)
            #expect(!ejected)
        }
        for _ in 0..<(PassiveEjection.burst - 1) {
            let ejected = ejection.responded(status: 502, now: 0)
            #expect(!ejected)
        }
        let step15 = ejection.responded(status: 200, now: 0)  // the streak is broken
        #expect(!step15)
        for _ in 0..<(PassiveEjection.burst - 1) {
            let ejected = ejection.responded(status: 503, now: 0)
            #expect(!ejected)
        }
        let step16 = ejection.responded(status: 504, now: 0)
        #expect(step16)
        #expect(ejection.isSuspect(now: 1))
    }

    @Test func serviceHealthIsPerServiceAndDrainWins() {
        // Two services (0 = ews, 1 = owa), two servers; EWS down on server 0.
        let view = PoolHealthView(generation: 1, serviceUp: [[false, true], [true, true]], draining: [false, false])
        #expect(!view.accepts(server: 0, service: 0))
        #expect(view.accepts(server: 0, service: 1))
        #expect(view.accepts(server: 0, service: nil))  // server level: not every service is down
        let dead = PoolHealthView(generation: 2, serviceUp: [[false, true], [false, true]], draining: [false, true])
        #expect(!dead.accepts(server: 0, service: nil))
        #expect(!dead.accepts(server: 1, service: 1))  // drained
        let unprobed = PoolHealthView(generation: 3, serviceUp: [], draining: [false])
        #expect(unprobed.accepts(server: 0, service: nil))
    }
}
