import NIOCore
import Testing

@testable import Gatehouse

/// The timeouts of one proxied request, with time passed in.
@Suite struct RequestDeadlinesTests {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    private func clocks(idle: Int64 = 120, connect: Int64 = 5, header: Int64 = 30, total: Int64? = nil) -> RequestDeadlines {
        RequestDeadlines(
            idle: .seconds(idle), connect: .seconds(connect), header: .seconds(header),
            total: total.map { .seconds($0) }, now: t0)
    }

    @Test func connectTimeoutRunsOnlyWhileConnecting() {
        var deadlines = clocks()
        deadlines.connecting(at: t0)
        #expect(deadlines.nextDeadline == t0 + .seconds(5))
        #expect(deadlines.expired(at: t0 + .milliseconds(4999)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(5)) == .connect)
        deadlines.connected(at: t0 + .seconds(1))
        #expect(deadlines.expired(at: t0 + .seconds(6)) == nil)
        #expect(deadlines.nextDeadline == t0 + .seconds(121))
    }

    @Test func headerTimeoutStartsWhenTheRequestIsSentAndStopsAtTheHead() {
        var deadlines = clocks(header: 30)
        deadlines.connecting(at: t0)
        deadlines.connected(at: t0)
        // A long upload is bounded by the idle clock only, however long it takes.
        for second in stride(from: 10, through: 300, by: 10) {
            deadlines.activity(at: t0 + .seconds(Int64(second)))
            #expect(deadlines.expired(at: t0 + .seconds(Int64(second) + 5)) == nil)
        }
        deadlines.requestSent(at: t0 + .seconds(300))
        #expect(deadlines.nextDeadline == t0 + .seconds(330))
        #expect(deadlines.expired(at: t0 + .seconds(329)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(330)) == .header)
        deadlines.responseHeadReceived(at: t0 + .seconds(320))
        #expect(deadlines.expired(at: t0 + .seconds(330)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(440)) == .idle)
    }

    @Test func aHeaderTimeoutLongerThanIdleLetsTheIdleClockDecide() {
        // ActiveSync: header 3660 s, idle 3660 s; a short header never outlives a longer idle.
        var deadlines = clocks(idle: 10, header: 3660)
        deadlines.connected(at: t0)
        deadlines.requestSent(at: t0)
        #expect(deadlines.nextDeadline == t0 + .seconds(10))
        #expect(deadlines.expired(at: t0 + .seconds(10)) == .idle)
    }

    @Test func totalTimeoutIsCountedFromTheStartWhateverHappens() {
        var deadlines = clocks(total: 60)
        deadlines.connected(at: t0)
        deadlines.responseHeadReceived(at: t0 + .seconds(1))
        deadlines.activity(at: t0 + .seconds(59))
        #expect(deadlines.nextDeadline == t0 + .seconds(60))
        #expect(deadlines.expired(at: t0 + .seconds(60)) == .total)
    }

    @Test func aResendRestartsTheConnectClockAndStopsTheHeaderClock() {
        var deadlines = clocks(connect: 5, header: 30)
        deadlines.connected(at: t0)
        deadlines.requestSent(at: t0 + .seconds(1))
        deadlines.connecting(at: t0 + .seconds(2))
        #expect(deadlines.expired(at: t0 + .seconds(6)) == nil)
        #expect(deadlines.expired(at: t0 + .seconds(7)) == .connect)
        #expect(deadlines.sentSince == nil)
    }

    @Test func descriptionsNameTheLimit() {
        let deadlines = clocks(idle: 120, connect: 1, header: 30)
        #expect(deadlines.describe(.connect) == "(no backend connection within 1 s)")
        #expect(deadlines.describe(.header) == "(no response head within 30 s of the request)")
        #expect(deadlines.describe(.idle) == "(no data for 120 s)")
    }
}
