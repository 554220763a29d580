#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Rendezvous (highest random weight) hashing of an anchor mailbox onto a pool's servers: each
/// server scores the key independently and the best score wins, so removing one server moves only
/// the keys it had won, and it takes nothing from the others when it returns.
enum RendezvousHash {
    /// A stable 64-bit seed for a server, from its configured name (never from request data).
    static func seed(serverName: String) -> UInt64 {
        var hasher = AnchorHasher()
        for byte in serverName.utf8 { hasher.add(byte) }
        return hasher.value
    }

    /// The eligible server with the highest weighted score for `key`, or nil when none is eligible.
    static func pick(key: UInt64, seeds: [UInt64], weights: [Int], isEligible: (Int) -> Bool) -> Int? {
        var best: Int?
        var bestScore = -Double.infinity
        for index in seeds.indices where isEligible(index) {
            let score = self.score(key: key, seed: seeds[index], weight: weights[index])
            if score > bestScore {
                bestScore = score
                best = index
            }
        }
        return best
    }

    /// Weighted HRW score `-weight / ln(u)` with `u` uniform in (0, 1) from the mixed hash: a server
    /// of weight 2 wins twice as many keys as one of weight 1 (Schindelhauer & Schomaker).
    static func score(key: UInt64, seed: UInt64, weight: Int) -> Double {
        let mixed = mix(key ^ seed)
        // 53 random bits into (0, 1): never 0, never 1, so the logarithm is finite and negative.
        let unit = (Double(mixed >> 11) + 0.5) / 9_007_199_254_740_992.0
        return -Double(max(1, weight)) / log(unit)
    }

    /// splitmix64's finaliser: spreads nearby inputs (similar mailbox names) over all 64 bits.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
