import NIOCore

/// Connection and request counters of one pool per server, summed over event loops.
struct LoopPoolCounters: Sendable {
    var outstanding: [Int]
    var idle: [Int]
    var pinned: [Int]
    /// On how many event loops the server is currently suspect (passive ejection), for itself or
    /// for some service. Ejection is shared by all loops, so this is 0 or the number of loops.
    var suspect: [Int]
    /// Connections open per server in any state (connecting, idle, in use, pinned); metrics.
    var open: [Int]
    /// Requests started towards the server since start (for request rates).
    var requests: [Int]

    init(outstanding: [Int], idle: [Int], pinned: [Int], suspect: [Int], open: [Int] = [], requests: [Int] = []) {
        self.outstanding = outstanding
        self.idle = idle
        self.pinned = pinned
        self.suspect = suspect
        self.open = open
        self.requests = requests
    }

    /// Nothing counted yet (the start of a sum over loops).
    static let zero = LoopPoolCounters(outstanding: [], idle: [], pinned: [], suspect: [])

    /// Element-wise sum (an empty side counts as zeros).
    func adding(_ other: LoopPoolCounters) -> LoopPoolCounters {
        func sum(_ a: [Int], _ b: [Int]) -> [Int] {
            a.isEmpty ? b : zip(a, b).map { $0 + $1 }
        }
        return LoopPoolCounters(
            outstanding: sum(outstanding, other.outstanding), idle: sum(idle, other.idle),
            pinned: sum(pinned, other.pinned), suspect: sum(suspect, other.suspect),
            open: sum(open, other.open), requests: sum(requests, other.requests))
    }
}
