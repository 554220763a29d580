import NIOCore

/// The pools of one runtime snapshot on every event loop. Each `LoopBackendPool` is only used on
/// its loop; the set itself is immutable after init, hence `@unchecked Sendable`. A request reads
/// its route's pool from the set of the snapshot its route came from, so route indices and pools
/// always agree; a reload builds a new set, reusing the loop pools of pools it left unchanged
/// (their idle and pinned connections, queues and counters carry on).
final class LoopPoolSet: @unchecked Sendable {
    private let perLoop: [ObjectIdentifier: [LoopBackendPool]]
    /// The loops in group order (for publishing and gathering).
    private let loops: [EventLoop]
    private let group: EventLoopGroup

    /// Some event loop of the group (for futures that gather nothing).
    var anyEventLoop: EventLoop { group.next() }

    /// - Parameters:
    ///   - reusing: the previous set; a pool object found there keeps its loop pools.
    ///   - views: initial health views for pools not reused (one per pool, in pool order).
    init(
        pools: [BackendPool], group: EventLoopGroup, reusing previous: LoopPoolSet? = nil,
        views: [PoolHealthView]? = nil
    ) {
        self.group = group
        var perLoop: [ObjectIdentifier: [LoopBackendPool]] = [:]
        var loops: [EventLoop] = []
        for loop in group.makeIterator() {
            loops.append(loop)
            let old = previous?.perLoop[ObjectIdentifier(loop)] ?? []
            perLoop[ObjectIdentifier(loop)] = pools.enumerated().map { index, pool in
                if let kept = old.first(where: { $0.pool === pool }) { return kept }
                let fresh = LoopBackendPool(pool: pool, eventLoop: loop)
                // Not yet visible to any request: setting the view from this thread is safe.
                if let views, index < views.count { fresh.apply(views[index]) }
                return fresh
            }
        }
        self.perLoop = perLoop
        self.loops = loops
    }

    /// The pool number `index` on `eventLoop` (the caller runs on that loop).
    func pool(_ index: Int, on eventLoop: EventLoop) -> LoopBackendPool {
        perLoop[ObjectIdentifier(eventLoop)]![index]
    }

    /// Whether `pool` is one of this set's pools.
    func contains(_ pool: BackendPool) -> Bool {
        perLoop.values.first?.contains { $0.pool === pool } ?? false
    }

    /// Hands every loop the new health views (one per pool, in pool order). Each loop swaps its copy
    /// on its own thread, so the data path reads health without locks. A view whose shape does not
    /// fit its pool (published for the next snapshot's pools while a reload swaps the sets) is
    /// skipped; the reload publishes again once the new set is in place.
    func publish(_ views: [PoolHealthView]) {
        for (_, pools) in perLoop {
            guard let loop = pools.first?.eventLoop else { continue }
            loop.execute {
                for (index, pool) in pools.enumerated() where index < views.count && views[index].fits(pool.pool) {
                    pool.apply(views[index])
                }
            }
        }
    }

    /// Per-loop counters of `pool`, summed over all loops (admin endpoint); zero when the pool is
    /// not in this set (a reload replaced it). `suspect` comes from the pool's ejection table,
    /// which every loop shares: a server avoided for itself or for some service is avoided on
    /// every loop.
    func counters(of backendPool: BackendPool) -> EventLoopFuture<LoopPoolCounters> {
        let futures = perLoop.values.compactMap { pools -> EventLoopFuture<LoopPoolCounters>? in
            guard let pool = pools.first(where: { $0.pool === backendPool }) else { return nil }
            return pool.eventLoop.submit { pool.counters }
        }
        let loop = futures.first?.eventLoop ?? anyEventLoop
        let loopCount = futures.count
        return EventLoopFuture.reduce(LoopPoolCounters.zero, futures, on: loop) { $0.adding($1) }.map { summed in
            guard loopCount > 0 else { return summed }
            var counters = summed
            let suspects = backendPool.ejection.suspects(now: NIODeadline.now().uptimeNanoseconds)
            counters.suspect = suspects.map { $0.server || $0.services.contains(true) ? loopCount : 0 }
            return counters
        }
    }

    /// Closes idle connections on every loop; with `except`, spares the pools also in that set
    /// (a reload closes only what the new snapshot no longer uses).
    func closeAll(except kept: LoopPoolSet? = nil) {
        for (_, pools) in perLoop {
            guard let loop = pools.first?.eventLoop else { continue }
            let closing = pools.filter { pool in !(kept?.contains(pool.pool) ?? false) }
            guard !closing.isEmpty else { continue }
            loop.execute { closing.forEach { $0.closeAll() } }
        }
    }
}
