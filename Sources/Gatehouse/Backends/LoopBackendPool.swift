import NIOCore

/// The backend connections of one `BackendPool` on one event loop. A thin shell: `StateMachine`
/// decides (idle reuse, connect cap, queue, leases, pinning), this class carries its actions out
/// with the channels, futures and one timer per pool per loop. It also holds the balancing state and
/// this loop's copy of the pool's health; passive ejection is the pool's own, shared by all loops.
/// Touched only on its event loop, so it needs no locks (client connections and their backend
/// connections share the loop). `@unchecked Sendable` for the same reason.
final class LoopBackendPool: @unchecked Sendable {
    let pool: BackendPool
    let eventLoop: EventLoop
    /// The decisions; read by the counters and the balancer.
    private(set) var machine: StateMachine
    /// Idle connections by their slot in the machine's table (nil: not idle here).
    private var idleConnections: [BackendConnection?] = []
    /// Requests queued for a connection slot, by lease.
    private var waiting: [LeaseID: (promise: EventLoopPromise<(BackendConnection, reused: Bool)>, since: NIODeadline)] = [:]
    /// The one timer: idle expiry and queue deadlines.
    private var timer: Scheduled<Void>?
    /// Balancing state (`choose`).
    var balancer: BackendBalancer
    /// This loop's copy of the pool's active health and drain state (replaced whole by `apply`).
    private(set) var health: PoolHealthView

    init(pool: BackendPool, eventLoop: EventLoop) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.machine = StateMachine(servers: pool.servers.count, settings: StateMachine.Settings(pool: pool))
        self.balancer = BackendBalancer(policy: pool.balance, weights: pool.servers.map(\.weight))
        self.health = PoolHealthView(
            servers: pool.servers.count, services: pool.healthPaths.count,
            draining: pool.servers.map(\.drain))
    }

    /// Takes a newer health view (published by the control plane through `loop.execute`).
    func apply(_ view: PoolHealthView) {
        if view.generation >= health.generation { health = view }
    }

    // MARK: leasing

    /// Lends a connection to `serverIndex`: an idle one when available (at once, in the lease's
    /// `idle`), else a new one, else one that frees up within the pool's queue timeout (or a 503
    /// `BackendError.queueTimeout`), through the lease's future.
    func lease(serverIndex: Int) -> BackendLease {
        let server = ServerID(serverIndex)
        let now = NIODeadline.now()
        let (id, first) = machine.lease(server: server, now: now.uptimeNanoseconds)
        var action = first
        // The keep-alive case, synchronously: an idle connection needs no future.
        while case .useIdle(let connectionID) = action {
            if let connection = take(connectionID), !connection.isClosed, connection.channel.isActive {
                armTimer()
                return BackendLease(serverIndex: serverIndex, id: id, connection: nil, idle: connection)
            }
            _ = machine.closed(connectionID)
            action = machine.reassign(id, server: server, now: now.uptimeNanoseconds)
        }
        let future = carryOut(action, lease: id, server: server, now: now, promise: nil)
        armTimer()
        return BackendLease(serverIndex: serverIndex, id: id, connection: future)
    }

    /// A pinned connection is lent again to its own client connection.
    func lendPinned(_ connection: BackendConnection, serverIndex: Int) -> BackendLease {
        let server = ServerID(serverIndex)
        let id = machine.lendPinned(server: server, connection: connection.poolID)
        return BackendLease(serverIndex: serverIndex, id: id, connection: nil)
    }

    /// Ends a lease. A reusable connection goes back to the idle list (bounded; closed after the
    /// pool's idle timeout); anything else is closed.
    func release(_ lease: consuming BackendLease, connection: BackendConnection, reusable: Bool) {
        let server = ServerID(lease.serverIndex)
        connection.delegate = nil
        connection.setReadPaused(false)
        guard let id = connection.poolID, connection.pool === self else {
            machine.abandon(server: server)
            connection.close()
            return
        }
        let canReuse = reusable && !connection.isClosed && !connection.carriesConnectionAuth
        switch machine.released(server: server, connection: id, reusable: canReuse, now: NIODeadline.now().uptimeNanoseconds) {
        case .keepIdle(let serveWaiters):
            store(connection, as: id)
            if serveWaiters {
                // On the next loop turn: a waiter that releases at once (its client left) would
                // otherwise hand the connection on recursively, one stack frame per waiter.
                eventLoop.execute { self.serveWaiters(server) }
            }
            armTimer()
        case .close(let releasePinnedSlot):
            if releasePinnedSlot { pool.pinned.release(server.index) }
            connection.close()
        }
    }

    /// Ends a lease but keeps the connection out of the shared pool: it stays dedicated to one
    /// client connection (NTLM/Negotiate) and is closed with it. Returns false (and closes the
    /// connection) when the server already has its maximum of pinned connections.
    func keepPinned(_ lease: consuming BackendLease, connection: BackendConnection) -> Bool {
        let server = ServerID(lease.serverIndex)
        connection.delegate = nil
        guard let id = connection.poolID, connection.pool === self else {
            machine.abandon(server: server)
            connection.close()
            return false
        }
        let budget = pool.pinned
        switch machine.keepPinned(server: server, connection: id, acquire: { budget.tryAcquire(server.index) }) {
        case .keep:
            connection.setReadPaused(false)
            return true
        case .close(let releasePinnedSlot):
            if releasePinnedSlot { budget.release(server.index) }
            connection.close()
            return false
        }
    }

    /// Ends a lease without returning the connection (failed request; the request closes it).
    func abandon(_ lease: consuming BackendLease) {
        machine.abandon(server: ServerID(lease.serverIndex))
    }

    /// A connection of this pool closed (the backend, an error, or its user closed it).
    func connectionClosed(_ connection: BackendConnection) {
        guard let id = connection.poolID, let state = machine.state(of: id) else { return }
        if case .idle = state { idleConnections[id.slot] = nil }
        if machine.closed(id) { pool.pinned.release(state.server.index) }
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        for id in machine.closeAll() { take(id)?.close() }
    }

    // MARK: carrying actions out

    /// Gives `lease` the connection `action` names; a stale idle connection is dropped and the
    /// lease tries again. Completes `promise` (a queued request's) when given.
    private func carryOut(
        _ action: StateMachine.LeaseAction, lease: LeaseID, server: ServerID, now: NIODeadline,
        promise: EventLoopPromise<(BackendConnection, reused: Bool)>?
    ) -> EventLoopFuture<(BackendConnection, reused: Bool)> {
        var action = action
        while true {
            switch action {
            case .useIdle(let id):
                if let connection = take(id), !connection.isClosed, connection.channel.isActive {
                    guard let promise else { return eventLoop.makeSucceededFuture((connection, true)) }
                    promise.succeed((connection, true))
                    return promise.futureResult
                }
                _ = machine.closed(id)
                action = machine.reassign(lease, server: server, now: now.uptimeNanoseconds)
            case .connect(let id):
                let future = startConnect(id, server: server)
                guard let promise else { return future }
                future.cascade(to: promise)
                return promise.futureResult
            case .wait:
                let promise = promise ?? eventLoop.makePromise()
                waiting[lease] = (promise, now)
                return promise.futureResult
            }
        }
    }

    private func startConnect(_ id: ConnectionID, server: ServerID) -> EventLoopFuture<(BackendConnection, reused: Bool)> {
        let promise = eventLoop.makePromise(of: (BackendConnection, reused: Bool).self)
        pool.connector(pool.servers[server.index], pool, eventLoop).assumeIsolated().whenComplete { result in
            let now = NIODeadline.now()
            switch result {
            case .success(let connection):
                connection.pool = self
                connection.poolID = id
                self.pool.ejection.connected(server: server.index)
                let actions = self.machine.connected(id, now: now.uptimeNanoseconds)
                promise.succeed((connection, reused: false))
                self.serve(actions, server: server, now: now)
            case .failure(let error):
                let actions = self.machine.connectFailed(id, now: now.uptimeNanoseconds)
                promise.fail(error)
                self.serve(actions, server: server, now: now)
            }
        }
        return promise.futureResult
    }

    private func serveWaiters(_ server: ServerID) {
        let now = NIODeadline.now()
        serve(machine.serveWaiters(server: server, now: now.uptimeNanoseconds), server: server, now: now)
    }

    private func serve(_ actions: [StateMachine.WaiterAction], server: ServerID, now: NIODeadline) {
        for action in actions {
            switch action {
            case .handIdle(let lease, let id):
                guard let waiter = waiting.removeValue(forKey: lease) else { continue }
                _ = carryOut(.useIdle(id), lease: lease, server: server, now: now, promise: waiter.promise)
            case .connect(let lease, let id):
                guard let waiter = waiting.removeValue(forKey: lease) else { continue }
                _ = carryOut(.connect(id), lease: lease, server: server, now: now, promise: waiter.promise)
            case .fail(let lease):
                failWaiter(lease, server: server, now: now)
            }
        }
        armTimer()
    }

    private func failWaiter(_ lease: LeaseID, server: ServerID, now: NIODeadline) {
        guard let waiter = waiting.removeValue(forKey: lease) else { return }
        waiter.promise.fail(
            BackendError.queueTimeout(
                pool: pool.name, server: pool.servers[server.index].name,
                waitedMilliseconds: (now - waiter.since).nanoseconds / 1_000_000))
    }

    /// Sets the one timer earlier when the machine asks for it.
    private func armTimer() {
        guard let deadline = machine.takeTimerChange() else { return }
        schedule(at: deadline)
    }

    private func schedule(at deadline: UInt64) {
        timer?.cancel()
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(deadline)) { [weak self] in
            self?.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        let now = NIODeadline.now()
        for action in machine.expire(now: now.uptimeNanoseconds) {
            switch action {
            case .close(let id): take(id)?.close()
            case .fail(let lease, let server): failWaiter(lease, server: server, now: now)
            }
        }
        if let next = machine.timerDeadline { schedule(at: next) }
    }

    private func store(_ connection: BackendConnection, as id: ConnectionID) {
        while idleConnections.count <= id.slot { idleConnections.append(nil) }
        idleConnections[id.slot] = connection
    }

    private func take(_ id: ConnectionID) -> BackendConnection? {
        guard id.slot < idleConnections.count else { return nil }
        defer { idleConnections[id.slot] = nil }
        return idleConnections[id.slot]
    }
}
