import Testing

@testable import Gatehouse

/// Round robin and least-outstanding balancing, with weights, over eligible servers.
@Suite struct BackendBalancerTests {
    private func counts(
        _ balancer: inout BackendBalancer, picks: Int, outstanding: [Int],
        eligible: (Int) -> Bool = { _ in true }
    ) -> [Int] {
        var result = Array(repeating: 0, count: balancer.weights.count)
        for _ in 0..<picks {
            if let index = balancer.pick(outstanding: outstanding, isEligible: eligible) { result[index] += 1 }
        }
        return result
    }

    @Test func roundRobinAlternatesEqualServers() {
        var balancer = BackendBalancer(policy: .roundRobin, weights: [1, 1, 1])
        let picks = (0..<6).compactMap { _ in balancer.pick(outstanding: [0, 0, 0]) { _ in true } }
        #expect(picks == [0, 1, 2, 0, 1, 2])
    }

    @Test func roundRobinHonoursWeightsSmoothly() {
        var balancer = BackendBalancer(policy: .roundRobin, weights: [3, 1])
        let picks = (0..<4).compactMap { _ in balancer.pick(outstanding: [0, 0]) { _ in true } }
        #expect(picks.filter { $0 == 0 }.count == 3)
        // Smooth: the light server is not last in the cycle after three heavy picks in a row.
        #expect(picks != [0, 0, 0, 1])
        let result1 = counts(&balancer, picks: 400, outstanding: [0, 0])
        #expect(result1 == [300, 100])
    }

    @Test func leastRequestsPrefersTheLeastLoaded() {
        var balancer = BackendBalancer(policy: .leastRequests, weights: [1, 1, 1])
        let result2 = counts(&balancer, picks: 10, outstanding: [5, 1, 3])
        #expect(result2 == [0, 10, 0])
    }

    @Test func leastRequestsAlternatesIdleEqualServers() {
        var balancer = BackendBalancer(policy: .leastRequests, weights: [1, 1])
        let result3 = counts(&balancer, picks: 1000, outstanding: [0, 0])
        #expect(result3 == [500, 500])
    }

    @Test func oneRequestOfSlackKeepsSharesEven() {
        // Concurrent clients: one server always has one request more in flight when a pick
        // happens. Shares still come out even instead of following whichever server freed up.
        var balancer = BackendBalancer(policy: .leastRequests, weights: [1, 1, 1])
        let result = counts(&balancer, picks: 300, outstanding: [1, 1, 0])
        #expect(result == [100, 100, 100])
    }

    @Test func leastRequestsWeighsLoadByWeight() {
        var balancer = BackendBalancer(policy: .leastRequests, weights: [2, 1])
        // 2 requests on a weight-2 server is as loaded as 1 on a weight-1 server: both candidates.
        let result4 = counts(&balancer, picks: 300, outstanding: [2, 1])
        #expect(result4 == [200, 100])
        let result5 = counts(&balancer, picks: 10, outstanding: [5, 1])
        #expect(result5 == [0, 10])
    }

    @Test func leastRequestsEvensOutSharesAfterBusySpells() {
        var balancer = BackendBalancer(policy: .leastRequests, weights: [1, 1])
        // Server 0 was busy for a while (two requests behind): server 1 got 20 requests alone.
        let result6 = counts(&balancer, picks: 20, outstanding: [2, 0])
        #expect(result6 == [0, 20])
        // Equally loaded again: server 0 catches up first, then they alternate.
        let result7 = counts(&balancer, picks: 20, outstanding: [0, 0])
        #expect(result7 == [20, 0])
        let result8 = counts(&balancer, picks: 10, outstanding: [0, 0])
        #expect(result8 == [5, 5])
    }

    @Test func aServerBackFromBeingDownGetsNoBurst() {
        var balancer = BackendBalancer(policy: .leastRequests, weights: [1, 1])
        let alone = counts(&balancer, picks: 1000, outstanding: [0, 0]) { $0 == 1 }
        #expect(alone == [0, 1000])
        let back = counts(&balancer, picks: 100, outstanding: [0, 0])
        #expect(back == [50, 50])
    }

    @Test func aBusyServersDebtIsBounded() {
        var balancer = BackendBalancer(policy: .leastRequests, weights: [1, 1])
        let busy = counts(&balancer, picks: 1000, outstanding: [2, 0])
        #expect(busy == [0, 1000])
        let back = counts(&balancer, picks: 100, outstanding: [0, 0])
        let debt = Int(BackendBalancer.catchUp)
        #expect(back == [debt + (100 - debt) / 2, (100 - debt) / 2])
    }

    @Test func skipsIneligibleServersAndReportsNone() {
        var balancer = BackendBalancer(policy: .roundRobin, weights: [1, 1, 1])
        let skipping = counts(&balancer, picks: 10, outstanding: [0, 0, 0]) { $0 != 1 }
        #expect(skipping == [5, 0, 5])
        let none = balancer.pick(outstanding: [0, 0, 0]) { _ in false }
        #expect(none == nil)
        var least = BackendBalancer(policy: .leastRequests, weights: [1, 1])
        let only = least.pick(outstanding: [0, 9]) { $0 == 1 }
        #expect(only == 1)
    }
}
