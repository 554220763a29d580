import NIOConcurrencyHelpers

/// How many backend connections each server of a pool has dedicated to NTLM/Negotiate clients,
/// over all event loops, against the pool's `max_pinned_per_server`. The lock is taken only when a
/// connection becomes pinned or closes (once per authenticated client connection), never per request.
final class PinnedBudget: Sendable {
    let limit: Int
    private let counts: NIOLockedValueBox<[Int]>

    init(servers: Int, limit: Int) {
        self.limit = limit
        self.counts = NIOLockedValueBox(Array(repeating: 0, count: servers))
    }

    /// Takes a slot on `server`; false when it is full.
    func tryAcquire(_ server: Int) -> Bool {
        counts.withLockedValue { counts in
            guard counts[server] < limit else { return false }
            counts[server] += 1
            return true
        }
    }

    /// Gives a slot back (the pinned connection closed). Each slot is given back once (the loop's
    /// pool machine reports a pinned connection's end once), so a count below zero is a bug.
    func release(_ server: Int) {
        counts.withLockedValue {
            precondition($0[server] > 0, "pinned budget of server \(server) released more often than taken")
            $0[server] -= 1
        }
    }

    /// Whether `server` has a free slot now.
    func hasRoom(_ server: Int) -> Bool {
        counts.withLockedValue { $0[server] < limit }
    }

    /// Pinned connections per server.
    var current: [Int] { counts.withLockedValue { $0 } }
}
