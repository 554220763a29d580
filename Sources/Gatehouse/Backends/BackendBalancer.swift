/// Chooses one of a pool's servers by the pool's balancing policy. A pure value (no NIO), one per
/// pool per event loop, so it needs no locks and is tested on its own.
struct BackendBalancer {
    let policy: BalancePolicy
    /// Each server's configured weight (at least 1).
    let weights: [Int]
    /// Smooth weighted round robin credit per server.
    private var credit: [Int]

    init(policy: BalancePolicy, weights: [Int]) {
        self.policy = policy
        self.weights = weights.map { max(1, $0) }
        self.credit = Array(repeating: 0, count: weights.count)
    }

    /// Picks among the servers for which `isEligible` holds.
    /// - Parameter outstanding: requests in flight per server (used by least requests).
    mutating func pick(outstanding: [Int], isEligible: (Int) -> Bool) -> Int? {
        switch policy {
        case .roundRobin:
            return pickSmoothRoundRobin { isEligible($0) }
        case .leastRequests:
            // Fewest requests in flight relative to weight; among the least loaded, weighted round
            // robin, so idle equal servers still alternate (sequential clients would otherwise all
            // land on the first server).
            var best: Int?
            for index in weights.indices where isEligible(index) {
                if let current = best {
                    if outstanding[index] * weights[current] < outstanding[current] * weights[index] { best = index }
                } else {
                    best = index
                }
            }
            guard let least = best else { return nil }
            let weights = self.weights   // a copy: the closure must not read `self` while it is mutated
            return pickSmoothRoundRobin { index in
                isEligible(index) && outstanding[index] * weights[least] == outstanding[least] * weights[index]
            }
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
