import NIOCore

extension LoopBackendPool {
    /// The decisions of one pool on one event loop, as data: idle connections per server (most
    /// recently used reused first), connects in flight per server under a cap, requests queued for a
    /// connection slot with their own deadline, requests in flight per server, and NTLM/Negotiate
    /// pinned connections. It holds no channel, future, logger or timer: connections are
    /// `ConnectionID`s, time is passed in (nanoseconds of `NIODeadline.uptimeNanoseconds`), and every
    /// event returns what the owning `LoopBackendPool` must do. A `.close` action means the machine has
    /// already forgotten that connection; a later `closed` report about it is ignored.
    struct StateMachine {
        let settings: Settings
        private var servers: [ServerState]
        /// Requests in flight per server index: leases not yet ended (least-outstanding balancing
        /// reads this array as it is, so it is kept apart from `servers`).
        private(set) var outstanding: [Int]
        /// Requests started per server index since start (leases taken, pinned ones included), for
        /// the admin endpoint's request rates.
        private(set) var requests: [Int]
        private var slots: [Slot] = []
        private var freeSlots: [Int] = []
        private var lastLease: UInt64 = 0
        /// The instant the owner's one timer is set for, as far as the machine knows; nil: none.
        private(set) var timerDeadline: UInt64?
        /// `timerDeadline` moved earlier since the owner last asked (`takeTimerChange`).
        private var timerMoved = false

        init(servers: Int, settings: Settings) {
            self.settings = settings
            self.servers = Array(repeating: ServerState(), count: servers)
            self.outstanding = Array(repeating: 0, count: servers)
            self.requests = Array(repeating: 0, count: servers)
        }

        // MARK: leasing

        /// A request wants a connection to `server`: its lease starts (the server's outstanding count
        /// grows) and it gets an idle connection, a new one to open, or a place in the queue.
        mutating func lease(server: ServerID, now: UInt64) -> (LeaseID, LeaseAction) {
            outstanding[server.index] += 1
            requests[server.index] &+= 1
            lastLease &+= 1
            let lease = LeaseID(raw: lastLease)
            return (lease, assign(lease, server: server, now: now))
        }

        /// The connection handed to `lease` was found dead before use (reported with `closed`):
        /// the same lease tries again, without counting a second request.
        mutating func reassign(_ lease: LeaseID, server: ServerID, now: UInt64) -> LeaseAction {
            assign(lease, server: server, now: now)
        }

        /// A connect started by `.connect` succeeded: the connection belongs to the lease that asked
        /// for it. Its connect slot is free again, so a queued request may start one.
        mutating func connected(_ connection: ConnectionID, now: UInt64) -> [WaiterAction] {
            guard case .connecting(let server) = state(of: connection) else {
                preconditionFailure("\(connection) reported connected but is not connecting")
            }
            slots[connection.slot].state = .leased(server)
            servers[server.index].connecting -= 1
            return serveWaiters(server: server, now: now)
        }

        /// A connect started by `.connect` failed (TCP or TLS); its lease is ended by the request.
        mutating func connectFailed(_ connection: ConnectionID, now: UInt64) -> [WaiterAction] {
            guard case .connecting(let server) = state(of: connection) else {
                preconditionFailure("\(connection) reported failed but is not connecting")
            }
            free(connection)
            servers[server.index].connecting -= 1
            return serveWaiters(server: server, now: now)
        }

        /// Gives `server`'s queued requests what is available, oldest first: an idle connection, else
        /// a free connect slot. A request whose queue deadline passed is failed instead.
        mutating func serveWaiters(server: ServerID, now: UInt64) -> [WaiterAction] {
            var actions: [WaiterAction] = []
            while let waiter = servers[server.index].waiters.first {
                if waiter.deadline <= now {
                    servers[server.index].waiters.removeFirst()
                    actions.append(.fail(waiter.lease))
                } else if let connection = takeIdle(server) {
                    servers[server.index].waiters.removeFirst()
                    actions.append(.handIdle(waiter.lease, connection))
                } else if let connection = startConnect(server) {
                    servers[server.index].waiters.removeFirst()
                    actions.append(.connect(waiter.lease, connection))
                } else {
                    break
                }
            }
            return actions
        }

        // MARK: ending a lease

        /// The request is done with `connection`. A `reusable` connection that is not dedicated to a
        /// client goes back to the idle list while there is room; anything else is closed.
        mutating func released(server: ServerID, connection: ConnectionID, reusable: Bool, now: UInt64) -> ReleaseAction {
            endLease(server)
            guard let state = state(of: connection) else { return .close(releasePinnedSlot: false) }
            guard state == .leased(server), reusable,
                servers[server.index].idle.count < settings.maxIdlePerServer
            else {
                return .close(releasePinnedSlot: forget(connection))
            }
            slots[connection.slot].state = .idle(server)
            servers[server.index].idle.append(IdleEntry(connection: connection, since: now))
            noteDeadline(now + settings.idleTimeout)
            return .keepIdle(serveWaiters: !servers[server.index].waiters.isEmpty)
        }

        /// The request is done, and `connection` stays dedicated to its client connection
        /// (NTLM/Negotiate). A connection pinned for the first time takes a slot of the pool's pinned
        /// budget through `acquire` (called at most once); without one it is closed.
        mutating func keepPinned(server: ServerID, connection: ConnectionID, acquire: () -> Bool) -> PinAction {
            endLease(server)
            switch state(of: connection) {
            case .lentPinned(server):
                slots[connection.slot].state = .pinned(server)
                return .keep
            case .leased(server):
                guard acquire() else {
                    free(connection)
                    return .close(releasePinnedSlot: false)
                }
                slots[connection.slot].state = .pinned(server)
                servers[server.index].pinned += 1
                return .keep
            case nil:
                return .close(releasePinnedSlot: false)  // it closed meanwhile: already accounted
            default:
                return .close(releasePinnedSlot: forget(connection))
            }
        }

        /// A client connection's pinned connection serves its next request: a new lease on `server`.
        mutating func lendPinned(server: ServerID, connection: ConnectionID?) -> LeaseID {
            outstanding[server.index] += 1
            requests[server.index] &+= 1
            if let connection, state(of: connection) == .pinned(server) {
                slots[connection.slot].state = .lentPinned(server)
            }
            lastLease &+= 1
            return LeaseID(raw: lastLease)
        }

        /// The request ends its lease without giving a connection back (it failed, or the request
        /// closed the connection itself, which is reported with `closed`).
        mutating func abandon(server: ServerID) {
            endLease(server)
        }

        // MARK: connections going away, time passing

        /// `connection` closed (the backend, an error, or the request closed it). Returns true when
        /// it was pinned, so its slot of the pinned budget must be given back.
        mutating func closed(_ connection: ConnectionID) -> Bool {
            forget(connection)
        }

        /// Closes idle connections unused for the idle timeout and fails queued requests past their
        /// queue deadline; sets `timerDeadline` to the next instant something expires.
        mutating func expire(now: UInt64) -> [ExpiryAction] {
            var actions: [ExpiryAction] = []
            var next: UInt64?
            for index in servers.indices {
                while let oldest = servers[index].idle.first, oldest.since + settings.idleTimeout <= now {
                    servers[index].idle.removeFirst()
                    free(oldest.connection)
                    actions.append(.close(oldest.connection))
                }
                while let waiter = servers[index].waiters.first, waiter.deadline <= now {
                    servers[index].waiters.removeFirst()
                    actions.append(.fail(waiter.lease, ServerID(index)))
                }
                if let oldest = servers[index].idle.first { next = min(next ?? .max, oldest.since + settings.idleTimeout) }
                if let waiter = servers[index].waiters.first { next = min(next ?? .max, waiter.deadline) }
            }
            timerDeadline = next
            timerMoved = false
            return actions
        }

        /// The timer's new instant when it must be (re)armed earlier than it is; nil: leave it.
        mutating func takeTimerChange() -> UInt64? {
            guard timerMoved else { return nil }
            timerMoved = false
            return timerDeadline
        }

        /// Forgets every idle connection (shutdown); the owner closes them.
        mutating func closeAll() -> [ConnectionID] {
            var closing: [ConnectionID] = []
            for index in servers.indices {
                for entry in servers[index].idle {
                    free(entry.connection)
                    closing.append(entry.connection)
                }
                servers[index].idle.removeAll()
            }
            return closing
        }

        // MARK: state, for counters and tests

        /// Where `connection` is in its life with this pool; nil once it is gone.
        func state(of connection: ConnectionID) -> ConnectionState? {
            guard connection.slot < slots.count, slots[connection.slot].generation == connection.generation else {
                return nil
            }
            return slots[connection.slot].state
        }

        func outstandingCount(_ server: ServerID) -> Int { outstanding[server.index] }
        func idleCount(_ server: ServerID) -> Int { servers[server.index].idle.count }
        func pinnedCount(_ server: ServerID) -> Int { servers[server.index].pinned }
        func connectingCount(_ server: ServerID) -> Int { servers[server.index].connecting }
        func waiterCount(_ server: ServerID) -> Int { servers[server.index].waiters.count }
        /// Connections to `server` this pool knows in any state (connecting, idle, leased, pinned).
        func openCount(_ server: ServerID) -> Int {
            slots.reduce(0) { $0 + ($1.state?.server == server ? 1 : 0) }
        }

        // MARK: private

        private mutating func assign(_ lease: LeaseID, server: ServerID, now: UInt64) -> LeaseAction {
            if let connection = takeIdle(server) { return .useIdle(connection) }
            if let connection = startConnect(server) { return .connect(connection) }
            // Enough connects to this server are in flight: wait for one of them, or for a released
            // connection. A client cannot make Gatehouse open backend connections faster than this
            // (an HTTP/2 Rapid Reset flood would otherwise turn into a connection flood on the backend).
            let deadline = now + settings.queueTimeout
            servers[server.index].waiters.append(Waiter(lease: lease, deadline: deadline))
            noteDeadline(deadline)
            return .wait(deadline: deadline)
        }

        private mutating func takeIdle(_ server: ServerID) -> ConnectionID? {
            guard let entry = servers[server.index].idle.popLast() else { return nil }
            slots[entry.connection.slot].state = .leased(server)
            return entry.connection
        }

        private mutating func startConnect(_ server: ServerID) -> ConnectionID? {
            guard servers[server.index].connecting < settings.maxConnectingPerServer else { return nil }
            servers[server.index].connecting += 1
            return allocate(.connecting(server))
        }

        private mutating func endLease(_ server: ServerID) {
            // Every lease ends exactly once (BackendLease is non-copyable): a count going negative
            // is a bug in the pool's users, not a state to paper over.
            precondition(outstanding[server.index] > 0, "a lease on \(server) ended that was never taken")
            outstanding[server.index] -= 1
        }

        /// Drops `connection` from wherever it is. Returns true when it was pinned.
        @discardableResult
        private mutating func forget(_ connection: ConnectionID) -> Bool {
            guard let state = state(of: connection) else { return false }
            var wasPinned = false
            switch state {
            case .idle(let server):
                servers[server.index].idle.removeAll { $0.connection == connection }
            case .connecting(let server):
                servers[server.index].connecting -= 1
            case .leased:
                break
            case .pinned(let server), .lentPinned(let server):
                precondition(servers[server.index].pinned > 0, "pinned count of \(server) would go negative")
                servers[server.index].pinned -= 1
                wasPinned = true
            }
            free(connection)
            return wasPinned
        }

        private mutating func allocate(_ state: ConnectionState) -> ConnectionID {
            if let slot = freeSlots.popLast() {
                slots[slot].generation &+= 1
                slots[slot].state = state
                return ConnectionID(slot: slot, generation: slots[slot].generation)
            }
            slots.append(Slot(generation: 0, state: state))
            return ConnectionID(slot: slots.count - 1, generation: 0)
        }

        private mutating func free(_ connection: ConnectionID) {
            slots[connection.slot].state = nil
            freeSlots.append(connection.slot)
        }

        private mutating func noteDeadline(_ deadline: UInt64) {
            if let armed = timerDeadline, armed <= deadline { return }
            timerDeadline = deadline
            timerMoved = true
        }
    }
}

// MARK: - storage

extension LoopBackendPool.StateMachine {
    /// One entry of the connection table.
    fileprivate struct Slot {
        var generation: UInt32
        var state: ConnectionState?
    }

    /// An idle connection and since when it is idle.
    fileprivate struct IdleEntry {
        let connection: LoopBackendPool.ConnectionID
        let since: UInt64
    }

    /// A request queued for a connection slot, and when it gives up.
    fileprivate struct Waiter {
        let lease: LoopBackendPool.LeaseID
        let deadline: UInt64
    }

    /// Everything the machine counts for one server.
    fileprivate struct ServerState {
        /// Most recently used last (reused first: its TLS state and TCP window are warm).
        var idle: [IdleEntry] = []
        var connecting = 0
        /// Oldest first.
        var waiters = CircularBuffer<Waiter>()
        var pinned = 0
    }
}
