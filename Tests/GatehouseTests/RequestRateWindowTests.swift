import Testing

@testable import Gatehouse

/// Request rates for the state endpoint, from cumulative counters, with time passed in.
@Suite struct RequestRateWindowTests {
    static let second: UInt64 = 1_000_000_000

    @Test func noRateUntilASecondOfHistory() {
        var window = RequestRateWindow()
        #expect(window.rates(counts: [[0, 0]], now: 0) == [[nil, nil]])
        #expect(window.rates(counts: [[5, 0]], now: Self.second / 2) == [[nil, nil]])
        #expect(window.rates(counts: [[20, 4]], now: 2 * Self.second) == [[10, 2]])
    }

    @Test func theRateLooksBackAtMostTheWindow() {
        var window = RequestRateWindow()
        // 100 requests a second for 20 seconds, then nothing for 5 seconds.
        for second in 0...20 { _ = window.rates(counts: [[100 * second]], now: UInt64(second) * Self.second) }
        let rate = window.rates(counts: [[2000]], now: 25 * Self.second)
        // The oldest retained sample is at most 10 s old: 500 requests over 10 s.
        #expect(rate == [[50]])
    }

    @Test func aChangedShapeStartsAfresh() {
        var window = RequestRateWindow()
        _ = window.rates(counts: [[10]], now: 0)
        #expect(window.rates(counts: [[10, 0]], now: 5 * Self.second) == [[nil, nil]])
        #expect(window.rates(counts: [[20, 5]], now: 10 * Self.second) == [[2, 1]])
    }

    @Test func countersThatGoBackwardsGiveZeroNotANegativeRate() {
        var window = RequestRateWindow()
        _ = window.rates(counts: [[10]], now: 0)
        #expect(window.rates(counts: [[3]], now: 2 * Self.second) == [[0]])
    }
}
