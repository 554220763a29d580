import NIOCore

/// All pools on all event loops, built once at start. Each `LoopBackendPool` is only used on its
/// loop; the registry itself is immutable after init, hence `@unchecked Sendable`.
final class BackendPoolRegistry: @unchecked Sendable {
    private let perLoop: [ObjectIdentifier: [LoopBackendPool]]
    private let group: EventLoopGroup

    /// Some event loop of the group (for futures that gather nothing).
    var anyEventLoop: EventLoop { group.next() }

    init(pools: [BackendPool], group: EventLoopGroup) {
        self.group = group
        var perLoop: [ObjectIdentifier: [LoopBackendPool]] = [:]
        for loop in group.makeIterator() {
            perLoop[ObjectIdentifier(loop)] = pools.map { LoopBackendPool(pool: $0, eventLoop: loop) }
        }
        self.perLoop = perLoop
    }

    /// The pool number `index` on `eventLoop` (the caller runs on that loop).
    func pool(_ index: Int, on eventLoop: EventLoop) -> LoopBackendPool {
        perLoop[ObjectIdentifier(eventLoop)]![index]
    }

    /// Hands every loop the new health views (one per pool, in pool order). Each loop swaps its copy
    /// on its own thread, so the data path reads health without locks.
    func publish(_ views: [PoolHealthView]) {
        for (_, pools) in perLoop {
            guard let loop = pools.first?.eventLoop else { continue }
            loop.execute {
                for (index, pool) in pools.enumerated() where index < views.count { pool.apply(views[index]) }
            }
        }
    }

    /// Per-loop counters of pool `index`, summed over all loops (admin endpoint). `suspect` comes
    /// from the pool's ejection table, which every loop shares: a server avoided for itself or for
    /// some service is avoided on every loop.
    func counters(pool index: Int) -> EventLoopFuture<LoopPoolCounters> {
        let futures = perLoop.values.compactMap { pools -> EventLoopFuture<LoopPoolCounters>? in
            guard index < pools.count else { return nil }
            let pool = pools[index]
            return pool.eventLoop.submit { pool.counters }
        }
        let loop = futures.first?.eventLoop ?? anyEventLoop
        let backendPool = perLoop.values.first.flatMap { index < $0.count ? $0[index].pool : nil }
        let loops = futures.count
        return EventLoopFuture.reduce(LoopPoolCounters.zero, futures, on: loop) { $0.adding($1) }.map { summed in
            guard let backendPool else { return summed }
            var counters = summed
            let suspects = backendPool.ejection.suspects(now: NIODeadline.now().uptimeNanoseconds)
            counters.suspect = suspects.map { $0.server || $0.services.contains(true) ? loops : 0 }
            return counters
        }
    }

    /// Closes idle connections on every loop.
    func closeAll() {
        for (_, pools) in perLoop {
            guard let loop = pools.first?.eventLoop else { continue }
            loop.execute { pools.forEach { $0.closeAll() } }
        }
    }
}

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
        return LoopPoolCounters(outstanding: sum(outstanding, other.outstanding), idle: sum(idle, other.idle),
                                pinned: sum(pinned, other.pinned), suspect: sum(suspect, other.suspect),
                                open: sum(open, other.open), requests: sum(requests, other.requests))
    }
}
