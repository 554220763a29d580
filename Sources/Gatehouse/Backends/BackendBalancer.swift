/// Chooses one of a pool's servers by the pool's balancing policy. A pure value (no NIO), one per
/// pool per event loop, so it needs no locks and is tested on its own.
struct BackendBalancer {
    let policy: BalancePolicy
    /// Each server's configured weight (at least 1).
    let weights: [Int]
    /// Smooth weighted round robin credit per server.
    private var credit: [Int]
    /// Requests sent to each server by least requests (tie-breaking towards equal shares).
    private var served: [UInt64]
    /// How far (requests per weight unit) a server's share may lag behind before it is forgiven.
    static let catchUp: UInt64 = 64

    init(policy: BalancePolicy, weights: [Int]) {
        self.policy = policy
        self.weights = weights.map { max(1, $0) }
        self.credit = Array(repeating: 0, count: weights.count)
        self.served = Array(repeating: 0, count: weights.count)
    }

    /// Picks among the servers for which `isEligible` holds.
    /// - Parameter outstanding: requests in flight per server (used by least requests).
    mutating func pick(outstanding: [Int], isEligible: (Int) -> Bool) -> Int? {
        switch policy {
        case .roundRobin:
            return pickSmoothRoundRobin { isEligible($0) }
        case .leastRequests:
            // Fewest requests in flight relative to weight, with a slack of one request: among the
            // servers at most one request above the least loaded, the one with the smallest
            // weighted share so far. Without the slack, concurrent clients stick to "the server
            // that just freed up" and shares follow chance; with it, equal servers get equal
            // shares, while a slow server (two or more requests behind) still gets fewer.
            var least: Int?
            // Servers 0..<64 that were not eligible (down, drained, tried): see below.
            var ineligible: UInt64 = 0
            for index in weights.indices {
                guard isEligible(index) else {
                    if index < 64 { ineligible |= 1 << UInt64(index) }
                    continue
                }
                if let current = least, outstanding[index] * weights[current] >= outstanding[current] * weights[index] {
                    continue
                }
                least = index
            }
            guard let least else { return nil }
            var best = least
            for index in weights.indices where index != least {
                let eligible = index < 64 ? ineligible & (1 << UInt64(index)) == 0 : isEligible(index)
                guard eligible, outstanding[index] * weights[least] <= (outstanding[least] + 1) * weights[index] else {
                    continue
                }
                // Equal shares keep the less loaded (earlier) choice.
                if served[index] * UInt64(weights[best]) < served[best] * UInt64(weights[index]) { best = index }
            }
            served[best] += 1
            let level = served[best] / UInt64(weights[best])
            for index in weights.indices {
                let share = served[index] / UInt64(weights[index])
                if index < 64, ineligible & (1 << UInt64(index)) != 0 {
                    // A server that could not take this request (down for the service, drained)
                    // keeps pace, so it gets no burst of catch-up when it returns. Only a server
                    // that was merely busier falls behind, and gets its turns back.
                    if share < level { served[index] = level * UInt64(weights[index]) }
                } else if share + BackendBalancer.catchUp < level {
                    // And even that debt is bounded.
                    served[index] = (level - BackendBalancer.catchUp) * UInt64(weights[index])
                }
            }
            return best
        }
    }

    /// nginx's smooth weighted round robin: every candidate gains its weight in credit, the richest
    /// is chosen and pays back the candidates' total. A weight-3 server's turns are spread out
    /// (a a b a, not a a a b), and equal weights alternate strictly.
    private mutating func pickSmoothRoundRobin(_ isCandidate: (Int) -> Bool) -> Int? {
        var total = 0
        var best: Int?
        for index in weights.indices where isCandidate(index) {
            credit[index] += weights[index]
            total += weights[index]
            if best == nil || credit[index] > credit[best!] { best = index }
        }
        guard let best else { return nil }
        credit[best] -= total
        return best
    }
}
