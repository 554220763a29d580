import NIOCore

/// The backend connections of one `BackendPool` on one event loop: idle keep-alive connections per
/// server, the balancing cursor and outstanding-request counts. Touched only on its event loop, so
/// it needs no locks (client connections and their backend connections share the loop).
/// `@unchecked Sendable` for the same reason: every use happens on `eventLoop`.
final class LoopBackendPool: @unchecked Sendable {
    let pool: BackendPool
    let eventLoop: EventLoop
    /// Idle connections per server index, most recently used last (reused first: warm TLS state).
    private var idle: [[BackendConnection]]
    /// Requests in flight per server index (least-outstanding balancing).
    private(set) var outstanding: [Int]
    private var cursor = 0

    init(pool: BackendPool, eventLoop: EventLoop) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.idle = Array(repeating: [], count: pool.servers.count)
        self.outstanding = Array(repeating: 0, count: pool.servers.count)
        self.pinnedCount = Array(repeating: 0, count: pool.servers.count)
    }

    /// Chooses a server: fewest outstanding requests on this loop, ties broken round robin so
    /// equal servers share the load evenly.
    func pickServer(excluding excluded: Int? = nil) -> Int? {
        let count = pool.servers.count
        guard count > 0 else { return nil }
        var best: Int?
        for step in 0..<count {
            let index = (cursor + step) % count
            if index == excluded { continue }
            if best == nil || outstanding[index] < outstanding[best!] { best = index }
        }
        cursor = (cursor + 1) % count
        return best
    }

    /// Lends a connection to `serverIndex`: an idle one when available, else a new one.
    /// The second value tells whether it was reused (a reused connection may turn out stale).
    func lease(serverIndex: Int) -> EventLoopFuture<(BackendConnection, reused: Bool)> {
        outstanding[serverIndex] += 1
        while let connection = idle[serverIndex].popLast() {
            connection.idleTimer?.cancel()
            connection.idleTimer = nil
            if !connection.isClosed && connection.channel.isActive {
                return eventLoop.makeSucceededFuture((connection, true))
            }
        }
        let server = pool.servers[serverIndex]
        return BackendConnection.connect(to: server, pool: pool, on: eventLoop).map { connection in
            connection.pool = self
            return (connection, false)
        }
    }

    /// Ends a lease. A reusable connection goes back to the idle list (bounded; closed after the
    /// pool's idle timeout); anything else is closed.
    func release(_ connection: BackendConnection, serverIndex: Int, reusable: Bool) {
        outstanding[serverIndex] = max(0, outstanding[serverIndex] - 1)
        connection.delegate = nil
        connection.setReadPaused(false)
        guard reusable, !connection.isClosed, connection.pool === self,
              idle[serverIndex].count < pool.maxIdlePerServer else {
            connection.close()
            return
        }
        idle[serverIndex].append(connection)
        connection.idleTimer = eventLoop.assumeIsolated().scheduleTask(in: pool.idleTimeout) { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.remove(connection)
            connection.close()
        }
    }

    /// Ends a lease but keeps the connection out of the shared pool: it stays dedicated to one
    /// client connection (NTLM/Negotiate) and is closed with it.
    func keepPinned(_ connection: BackendConnection, serverIndex: Int) {
        outstanding[serverIndex] = max(0, outstanding[serverIndex] - 1)
        connection.setReadPaused(false)
        pinnedCount[serverIndex] += 1
        connection.onClose = { [weak self] in self?.pinnedCount[serverIndex] -= 1 }
    }

    /// A pinned connection is lent again to its own client connection.
    func lendPinned(serverIndex: Int) {
        outstanding[serverIndex] += 1
    }

    /// Pinned (client-dedicated) connections per server index.
    private(set) var pinnedCount: [Int]

    /// Ends a lease without returning the connection (failed request).
    func abandon(serverIndex: Int) {
        outstanding[serverIndex] = max(0, outstanding[serverIndex] - 1)
    }

    /// An idle connection closed by the backend leaves the idle list.
    func connectionClosed(_ connection: BackendConnection) {
        remove(connection)
    }

    private func remove(_ connection: BackendConnection) {
        for index in idle.indices {
            idle[index].removeAll { $0 === connection }
        }
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        for list in idle { list.forEach { $0.close() } }
        idle = Array(repeating: [], count: pool.servers.count)
    }

    /// Idle connection count per server (state endpoint, tests).
    var idleCounts: [Int] { idle.map(\.count) }
}

/// All pools on all event loops, built once at start. Each `LoopBackendPool` is only used on its
/// loop; the registry itself is immutable after init, hence `@unchecked Sendable`.
final class BackendPoolRegistry: @unchecked Sendable {
    private let perLoop: [ObjectIdentifier: [LoopBackendPool]]

    init(pools: [BackendPool], group: EventLoopGroup) {
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

    /// Closes idle connections on every loop.
    func closeAll() {
        for (_, pools) in perLoop {
            guard let loop = pools.first?.eventLoop else { continue }
            loop.execute { pools.forEach { $0.closeAll() } }
        }
    }
}
