import NIOCore

/// The backend connections of one `BackendPool` on one event loop: idle keep-alive connections per
/// server, the balancing state, outstanding-request counts, passive ejection and this loop's copy
/// of the pool's health. Touched only on its event loop, so it needs no locks (client connections
/// and their backend connections share the loop).
/// `@unchecked Sendable` for the same reason: every use happens on `eventLoop`.
final class LoopBackendPool: @unchecked Sendable {
    let pool: BackendPool
    let eventLoop: EventLoop
    /// Idle connections per server index, most recently used last (reused first: warm TLS state).
    private var idle: [[BackendConnection]]
    /// Connects in flight per server index, and the leases waiting for one of them to finish.
    private var connecting: [Int]
    private var waiters: [[EventLoopPromise<(BackendConnection, reused: Bool)>]]
    /// Requests in flight per server index (least-outstanding balancing).
    private(set) var outstanding: [Int]
    private var balancer: BackendBalancer
    /// Passive health per server as this loop saw it.
    private(set) var ejection: [PassiveEjection]
    /// This loop's copy of the pool's active health and drain state (replaced whole by `apply`).
    private(set) var health: PoolHealthView

    init(pool: BackendPool, eventLoop: EventLoop) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.idle = Array(repeating: [], count: pool.servers.count)
        self.outstanding = Array(repeating: 0, count: pool.servers.count)
        self.connecting = Array(repeating: 0, count: pool.servers.count)
        self.waiters = Array(repeating: [], count: pool.servers.count)
        self.pinnedCount = Array(repeating: 0, count: pool.servers.count)
        self.balancer = BackendBalancer(policy: pool.balance, weights: pool.servers.map(\.weight))
        self.ejection = Array(repeating: PassiveEjection(), count: pool.servers.count)
        self.health = PoolHealthView(servers: pool.servers.count, services: pool.healthPaths.count,
                                     draining: pool.servers.map(\.drain))
    }

    /// Why no server could be chosen.
    enum Choice: Equatable {
        case server(Int)
        /// Every server is down for the route's service, drained, or already tried.
        case noHealthyServer
        /// Healthy servers exist, but each has its maximum of pinned (NTLM/Negotiate) connections.
        case pinnedLimitReached
    }

    /// Chooses a server for a new request: one that is healthy for `service` (nil: server-level),
    /// not drained and not in `tried`; a passively ejected (suspect) server only when nothing else
    /// is left. With an `anchor`, rendezvous hashing keeps one mailbox on one server; otherwise
    /// the pool's balancing policy decides. `needsPinnedRoom`: the request starts connection-based
    /// authentication, so the server must have a free pinned-connection slot.
    func choose(service: Int?, anchor: UInt64?, excluding tried: [Int], needsPinnedRoom: Bool) -> Choice {
        let now = NIODeadline.now().uptimeNanoseconds
        var lackedRoom = false
        // A nested function, not a closure value: it stays non-escaping, so nothing is allocated.
        func isEligible(_ index: Int, allowSuspect: Bool) -> Bool {
            guard health.accepts(server: index, service: service), !tried.contains(index) else { return false }
            if !allowSuspect && ejection[index].isSuspect(now: now) { return false }
            if needsPinnedRoom && !pool.pinned.hasRoom(index) {
                lackedRoom = true
                return false
            }
            return true
        }
        for pass in 0..<2 {
            let allowSuspect = pass == 1
            let picked: Int?
            if let anchor {
                picked = RendezvousHash.pick(key: anchor, seeds: pool.hashSeeds, weights: balancer.weights) {
                    isEligible($0, allowSuspect: allowSuspect)
                }
            } else {
                picked = balancer.pick(outstanding: outstanding) { isEligible($0, allowSuspect: allowSuspect) }
            }
            if let picked { return .server(picked) }
        }
        return lackedRoom ? .pinnedLimitReached : .noHealthyServer
    }

    /// Takes a newer health view (published by the control plane through `loop.execute`).
    func apply(_ view: PoolHealthView) {
        if view.generation >= health.generation { health = view }
    }

    /// A new connection to `serverIndex` failed (TCP or TLS): passive ejection.
    /// Returns true when the server just became suspect.
    @discardableResult
    func connectFailed(serverIndex: Int) -> Bool {
        ejection[serverIndex].connectFailed(now: NIODeadline.now().uptimeNanoseconds)
    }

    /// A response with `status` came from `serverIndex` (bursts of 502/503/504 eject it).
    @discardableResult
    func responded(serverIndex: Int, status: UInt) -> Bool {
        ejection[serverIndex].responded(status: status, now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Lends a connection to `serverIndex`: an idle one when available, else a new one.
    /// The second value tells whether it was reused (a reused connection may turn out stale).
    func lease(serverIndex: Int) -> EventLoopFuture<(BackendConnection, reused: Bool)> {
        outstanding[serverIndex] += 1
        if let connection = takeIdle(serverIndex) {
            return eventLoop.makeSucceededFuture((connection, true))
        }
        if connecting[serverIndex] < LoopBackendPool.maxConnectingPerServer {
            return startConnect(serverIndex)
        }
        // Enough connects to this server are in flight: wait for one of them, or for a released
        // connection. A client cannot make Gatehouse open backend connections faster than this
        // (an HTTP/2 Rapid Reset flood would otherwise turn into a connection flood on the backend).
        let promise = eventLoop.makePromise(of: (BackendConnection, reused: Bool).self)
        waiters[serverIndex].append(promise)
        return promise.futureResult
    }

    /// Most connects in flight to one server from one event loop.
    static let maxConnectingPerServer = 32

    private func takeIdle(_ serverIndex: Int) -> BackendConnection? {
        while let connection = idle[serverIndex].popLast() {
            connection.idleTimer?.cancel()
            connection.idleTimer = nil
            if !connection.isClosed && connection.channel.isActive { return connection }
        }
        return nil
    }

    private func startConnect(_ serverIndex: Int) -> EventLoopFuture<(BackendConnection, reused: Bool)> {
        connecting[serverIndex] += 1
        let server = pool.servers[serverIndex]
        let future = BackendConnection.connect(to: server, pool: pool, on: eventLoop).map {
            connection -> (BackendConnection, reused: Bool) in
            connection.pool = self
            self.ejection[serverIndex].connected()
            return (connection, reused: false)
        }
        future.whenComplete { _ in
            self.connecting[serverIndex] -= 1
            self.serveWaiters(serverIndex)
        }
        return future
    }

    /// Gives waiting leases what is available: idle connections first, then free connect slots.
    private func serveWaiters(_ serverIndex: Int) {
        while !waiters[serverIndex].isEmpty {
            if let connection = takeIdle(serverIndex) {
                waiters[serverIndex].removeFirst().succeed((connection, true))
            } else if connecting[serverIndex] < LoopBackendPool.maxConnectingPerServer {
                let promise = waiters[serverIndex].removeFirst()
                startConnect(serverIndex).cascade(to: promise)
            } else {
                return
            }
        }
    }

    /// Ends a lease. A reusable connection goes back to the idle list (bounded; closed after the
    /// pool's idle timeout); anything else is closed.
    func release(_ connection: BackendConnection, serverIndex: Int, reusable: Bool) {
        outstanding[serverIndex] = max(0, outstanding[serverIndex] - 1)
        connection.delegate = nil
        connection.setReadPaused(false)
        guard reusable, !connection.isClosed, !connection.carriesConnectionAuth, connection.pool === self,
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
        if !waiters[serverIndex].isEmpty {
            // On the next loop turn: a waiter that releases at once (its client left) would
            // otherwise hand the connection on recursively, one stack frame per waiter.
            eventLoop.execute { self.serveWaiters(serverIndex) }
        }
    }

    /// Ends a lease but keeps the connection out of the shared pool: it stays dedicated to one
    /// client connection (NTLM/Negotiate) and is closed with it. Returns false (and closes the
    /// connection) when the server already has its maximum of pinned connections.
    func keepPinned(_ connection: BackendConnection, serverIndex: Int) -> Bool {
        outstanding[serverIndex] = max(0, outstanding[serverIndex] - 1)
        connection.delegate = nil
        guard connection.onClose != nil || pool.pinned.tryAcquire(serverIndex) else {
            connection.close()
            return false
        }
        connection.setReadPaused(false)
        if connection.onClose == nil {
            pinnedCount[serverIndex] += 1
            let budget = pool.pinned
            connection.onClose = { [weak self] in
                self?.pinnedCount[serverIndex] -= 1
                budget.release(serverIndex)
            }
        }
        return true
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

    /// This loop's counters (admin endpoint).
    var counters: LoopPoolCounters {
        let now = NIODeadline.now().uptimeNanoseconds
        return LoopPoolCounters(outstanding: outstanding, idle: idleCounts, pinned: pinnedCount,
                                suspect: ejection.map { $0.isSuspect(now: now) ? 1 : 0 })
    }
}

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

    /// Per-loop counters of pool `index`, summed over all loops (admin endpoint).
    func counters(pool index: Int) -> EventLoopFuture<LoopPoolCounters> {
        let futures = perLoop.values.compactMap { pools -> EventLoopFuture<LoopPoolCounters>? in
            guard index < pools.count else { return nil }
            let pool = pools[index]
            return pool.eventLoop.submit { pool.counters }
        }
        let loop = futures.first?.eventLoop ?? anyEventLoop
        return EventLoopFuture.reduce(LoopPoolCounters.zero, futures, on: loop) { $0.adding($1) }
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
    /// On how many event loops the server is currently suspect (passive ejection).
    var suspect: [Int]

    init(outstanding: [Int], idle: [Int], pinned: [Int], suspect: [Int]) {
        self.outstanding = outstanding
        self.idle = idle
        self.pinned = pinned
        self.suspect = suspect
    }

    /// Nothing counted yet (the start of a sum over loops).
    static let zero = LoopPoolCounters(outstanding: [], idle: [], pinned: [], suspect: [])

    /// Element-wise sum (an empty side counts as zeros).
    func adding(_ other: LoopPoolCounters) -> LoopPoolCounters {
        func sum(_ a: [Int], _ b: [Int]) -> [Int] {
            a.isEmpty ? b : zip(a, b).map { $0 + $1 }
        }
        return LoopPoolCounters(outstanding: sum(outstanding, other.outstanding), idle: sum(idle, other.idle),
                                pinned: sum(pinned, other.pinned), suspect: sum(suspect, other.suspect))
    }
}
