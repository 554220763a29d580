import GatehouseTLS
import NIOCore
import NIOEmbedded
import Testing

@testable import Gatehouse

/// Every transition of one loop's pool as a value, with time passed in: idle reuse and expiry, the
/// connect cap and its queue, leases ended once, pinning; and passive ejection per (server, service)
/// shared by the pools of two event loops.
@Suite struct LoopBackendPoolStateMachineTests {
    typealias Machine = LoopBackendPool.StateMachine
    typealias ServerID = LoopBackendPool.ServerID
    typealias ConnectionID = LoopBackendPool.ConnectionID

    static let second: UInt64 = 1_000_000_000
    static let start: UInt64 = 1_000 * second
    static let mbx01 = ServerID(0)
    static let mbx02 = ServerID(1)

    func at(_ seconds: Double) -> UInt64 { Self.start + UInt64(seconds * 1e9) }

    func makeMachine(maxIdle: Int = 4, maxConnecting: Int = 2, idle: UInt64 = 60, queue: UInt64 = 3) -> Machine {
        Machine(
            servers: 2,
            settings: .init(
                maxIdlePerServer: maxIdle, maxConnectingPerServer: maxConnecting,
                idleTimeout: idle * Self.second, queueTimeout: queue * Self.second))
    }

    /// A lease that opened a new connection which is now connected.
    func connectedLease(_ machine: inout Machine, _ server: ServerID = LoopBackendPoolStateMachineTests.mbx01, now: UInt64) -> ConnectionID
    {
        let (_, action) = machine.lease(server: server, now: now)
        guard case .connect(let id) = action else {
            Issue.record("expected a connect, got \(action)")
            return ConnectionID(slot: -1, generation: 0)
        }
        #expect(machine.connected(id, now: now) == [])
        return id
    }

    // MARK: idle connections

    @Test func aReleasedConnectionIsReusedMostRecentlyUsedFirst() {
        var machine = makeMachine()
        let first = connectedLease(&machine, now: at(0))
        let second = connectedLease(&machine, now: at(0))
        #expect(first != second)
        #expect(machine.outstandingCount(Self.mbx01) == 2)
        #expect(machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1)) == .keepIdle(serveWaiters: false))
        #expect(machine.released(server: Self.mbx01, connection: second, reusable: true, now: at(2)) == .keepIdle(serveWaiters: false))
        #expect(machine.idleCount(Self.mbx01) == 2 && machine.outstandingCount(Self.mbx01) == 0)
        #expect(machine.lease(server: Self.mbx01, now: at(3)).1 == .useIdle(second))
        #expect(machine.lease(server: Self.mbx01, now: at(3)).1 == .useIdle(first))
        #expect(machine.state(of: first) == .leased(Self.mbx01))
        // Another server's idle list is its own.
        #expect(machine.lease(server: Self.mbx02, now: at(3)).1 == .connect(ConnectionID(slot: 2, generation: 0)))
    }

    @Test func theIdleListIsBoundedAndUnreusableConnectionsClose() {
        var machine = makeMachine(maxIdle: 1)
        let first = connectedLease(&machine, now: at(0))
        let second = connectedLease(&machine, now: at(0))
        let third = connectedLease(&machine, now: at(0))
        #expect(machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1)) == .keepIdle(serveWaiters: false))
        #expect(machine.released(server: Self.mbx01, connection: second, reusable: true, now: at(1)) == .close(releasePinnedSlot: false))
        #expect(machine.released(server: Self.mbx01, connection: third, reusable: false, now: at(1)) == .close(releasePinnedSlot: false))
        #expect(machine.idleCount(Self.mbx01) == 1 && machine.outstandingCount(Self.mbx01) == 0)
        #expect(machine.state(of: second) == nil && machine.state(of: third) == nil)
    }

    @Test func idleConnectionsExpireByTheTimePassedIn() {
        var machine = makeMachine(idle: 60)
        let first = connectedLease(&machine, now: at(0))
        let second = connectedLease(&machine, now: at(0))
        _ = machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(10))
        #expect(machine.takeTimerChange() == at(70))
        _ = machine.released(server: Self.mbx01, connection: second, reusable: true, now: at(20))
        #expect(machine.takeTimerChange() == nil)  // the timer set for 70 s comes first: no re-arm
        #expect(machine.expire(now: at(69)) == [])
        #expect(machine.timerDeadline == at(70))
        #expect(machine.expire(now: at(70)) == [.close(first)])
        #expect(machine.timerDeadline == at(80))
        #expect(machine.expire(now: at(80)) == [.close(second)])
        #expect(machine.timerDeadline == nil && machine.idleCount(Self.mbx01) == 0)
        // A slot is reused with a new generation: a late report about the old connection is ignored.
        let third = connectedLease(&machine, now: at(81))
        #expect(third.slot == second.slot || third.slot == first.slot)
        #expect(third != first && third != second)
        #expect(machine.closed(second) == false)
        #expect(machine.state(of: third) == .leased(Self.mbx01))
    }

    @Test func aStaleIdleConnectionIsDroppedAndTheSameLeaseTriesAgain() {
        var machine = makeMachine()
        let first = connectedLease(&machine, now: at(0))
        _ = machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1))
        let (lease, action) = machine.lease(server: Self.mbx01, now: at(2))
        #expect(action == .useIdle(first))
        #expect(machine.closed(first) == false)
        guard case .connect = machine.reassign(lease, server: Self.mbx01, now: at(2)) else {
            Issue.record("expected a connect")
            return
        }
        #expect(machine.outstandingCount(Self.mbx01) == 1)  // still one request
        #expect(machine.connectingCount(Self.mbx01) == 1)
    }

    @Test func aBackendClosingAnIdleConnectionTakesItOffTheList() {
        var machine = makeMachine()
        let first = connectedLease(&machine, now: at(0))
        _ = machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1))
        #expect(machine.closed(first) == false)
        #expect(machine.idleCount(Self.mbx01) == 0)
        #expect(machine.closed(first) == false)  // reported twice: ignored
        guard case .connect = machine.lease(server: Self.mbx01, now: at(2)).1 else {
            Issue.record("expected a connect")
            return
        }
    }

    // MARK: connect cap and the queue

    @Test func connectsBeyondTheCapWaitAndAConnectFreesASlot() {
        var machine = makeMachine(maxConnecting: 2, queue: 3)
        let (_, a) = machine.lease(server: Self.mbx01, now: at(0))
        let (_, b) = machine.lease(server: Self.mbx01, now: at(0))
        let (waiter, c) = machine.lease(server: Self.mbx01, now: at(0.5))
        #expect(c == .wait(deadline: at(3.5)))
        #expect(machine.takeTimerChange() == at(3.5))
        #expect(machine.connectingCount(Self.mbx01) == 2 && machine.waiterCount(Self.mbx01) == 1)
        #expect(machine.outstandingCount(Self.mbx01) == 3)
        // The other server has its own cap.
        guard case .connect = machine.lease(server: Self.mbx02, now: at(0.5)).1 else {
            Issue.record("expected a connect")
            return
        }
        guard case .connect(let first) = a, case .connect(let second) = b else {
            Issue.record("expected two connects")
            return
        }
        // A connect finishing frees its slot: the waiter starts its own connect.
        let served = machine.connected(first, now: at(1))
        #expect(served.count == 1)
        guard case .connect(waiter, let third)? = served.first else {
            Issue.record("expected the waiter to connect, got \(served)")
            return
        }
        #expect(machine.state(of: third) == .connecting(Self.mbx01))
        // A failed connect frees its slot too (no waiter left).
        #expect(machine.connectFailed(second, now: at(1)) == [])
        #expect(machine.state(of: second) == nil)
        machine.abandon(server: Self.mbx01)
        #expect(machine.connectingCount(Self.mbx01) == 1 && machine.outstandingCount(Self.mbx01) == 2)
    }

    @Test func aWaiterIsServedByAReleasedConnection() {
        var machine = makeMachine(maxConnecting: 1)
        let first = connectedLease(&machine, now: at(0))
        let (_, b) = machine.lease(server: Self.mbx01, now: at(0))  // takes the only connect slot
        let (waiter, c) = machine.lease(server: Self.mbx01, now: at(0))
        #expect(c == .wait(deadline: at(3)))
        guard case .connect = b else {
            Issue.record("expected a connect")
            return
        }
        #expect(machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1)) == .keepIdle(serveWaiters: true))
        #expect(machine.serveWaiters(server: Self.mbx01, now: at(1)) == [.handIdle(waiter, first)])
        #expect(machine.state(of: first) == .leased(Self.mbx01))
        #expect(machine.waiterCount(Self.mbx01) == 0 && machine.idleCount(Self.mbx01) == 0)
        #expect(machine.outstandingCount(Self.mbx01) == 2)
    }

    @Test func aWaiterPastItsQueueDeadlineIsFailed() {
        var machine = makeMachine(maxConnecting: 1, queue: 3)
        _ = machine.lease(server: Self.mbx01, now: at(0))
        let (early, _) = machine.lease(server: Self.mbx01, now: at(1))
        let (late, _) = machine.lease(server: Self.mbx01, now: at(2))
        #expect(machine.takeTimerChange() == at(4))
        #expect(machine.expire(now: at(3.9)) == [])
        #expect(machine.expire(now: at(4)) == [.fail(early, Self.mbx01)])
        #expect(machine.timerDeadline == at(5))
        #expect(machine.expire(now: at(5)) == [.fail(late, Self.mbx01)])
        #expect(machine.timerDeadline == nil)
        // The failed requests end their leases (the 503 path abandons them).
        machine.abandon(server: Self.mbx01)
        machine.abandon(server: Self.mbx01)
        #expect(machine.outstandingCount(Self.mbx01) == 1)
    }

    @Test func servingWaitersAlsoFailsThoseWhoseDeadlinePassed() {
        var machine = makeMachine(maxConnecting: 1, queue: 3)
        let (_, a) = machine.lease(server: Self.mbx01, now: at(0))
        let (expired, _) = machine.lease(server: Self.mbx01, now: at(0))
        let (fresh, _) = machine.lease(server: Self.mbx01, now: at(2))
        guard case .connect(let first) = a else {
            Issue.record("expected a connect")
            return
        }
        let actions = machine.connectFailed(first, now: at(3.5))
        #expect(actions.count == 2)
        #expect(actions.first == .fail(expired))
        guard case .connect(fresh, _)? = actions.last else {
            Issue.record("expected the fresh waiter to connect, got \(actions)")
            return
        }
    }

    // MARK: leases

    @Test func balancedPathsLeaveNothingOutstanding() {
        var machine = makeMachine()
        let first = connectedLease(&machine, now: at(0))
        let second = connectedLease(&machine, now: at(0))
        let third = connectedLease(&machine, now: at(0))
        #expect(machine.outstanding == [3, 0])
        _ = machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1))
        machine.abandon(server: Self.mbx01)  // second: the request failed
        #expect(machine.closed(second) == false)  // ...and closed it
        #expect(machine.keepPinned(server: Self.mbx01, connection: third, acquire: { true }) == .keep)
        #expect(machine.outstanding == [0, 0])
        let again = machine.lendPinned(server: Self.mbx01, connection: third)
        #expect(machine.outstanding == [1, 0])
        _ = again
        #expect(machine.keepPinned(server: Self.mbx01, connection: third, acquire: { true }) == .keep)
        #expect(machine.outstanding == [0, 0])
        // The queue's lease ends too when its 503 is answered.
        var capped = makeMachine(maxConnecting: 1)
        _ = capped.lease(server: Self.mbx01, now: at(0))
        _ = capped.lease(server: Self.mbx01, now: at(0))
        _ = capped.expire(now: at(10))
        capped.abandon(server: Self.mbx01)
        capped.abandon(server: Self.mbx01)
        #expect(capped.outstanding == [0, 0])
    }

    @Test func aLeaseHeldInAnOptionalEndsOnce() {
        var machine = makeMachine()
        let (id, _) = machine.lease(server: Self.mbx01, now: at(0))
        var held: BackendLease? = BackendLease(serverIndex: 0, id: id, connection: nil)
        var ended = 0
        // The only ways to end a lease consume it; `take()` leaves nothing for a second attempt.
        func end(_ lease: consuming BackendLease) {
            machine.abandon(server: ServerID(lease.serverIndex))
            ended += 1
        }
        if let lease = held.take() { end(lease) }
        if let lease = held.take() { end(lease) }
        #expect(ended == 1)
        #expect(machine.outstandingCount(Self.mbx01) == 0)
    }

    @Test func leaseIdentifiersAreDistinct() {
        var machine = makeMachine(maxConnecting: 1)
        let leases = (0..<5).map { _ in machine.lease(server: Self.mbx01, now: at(0)).0 }
        #expect(Set(leases).count == 5)
    }

    // MARK: pinning

    @Test func aPinnedConnectionTakesOneBudgetSlotAndGivesItBackOnClose() {
        var machine = makeMachine()
        let budget = PinnedBudget(servers: 2, limit: 1)
        let first = connectedLease(&machine, now: at(0))
        let second = connectedLease(&machine, now: at(0))
        var asked = 0
        let acquire = { () -> Bool in
            asked += 1
            return budget.tryAcquire(0)
        }
        #expect(machine.keepPinned(server: Self.mbx01, connection: first, acquire: acquire) == .keep)
        #expect(machine.pinnedCount(Self.mbx01) == 1 && asked == 1)
        // Lent again and kept again: no second slot.
        _ = machine.lendPinned(server: Self.mbx01, connection: first)
        #expect(machine.state(of: first) == .lentPinned(Self.mbx01))
        #expect(machine.keepPinned(server: Self.mbx01, connection: first, acquire: acquire) == .keep)
        #expect(asked == 1 && budget.current == [1, 0])
        // The budget is full: the next connection to pin is closed.
        #expect(machine.keepPinned(server: Self.mbx01, connection: second, acquire: acquire) == .close(releasePinnedSlot: false))
        #expect(machine.state(of: second) == nil && machine.pinnedCount(Self.mbx01) == 1)
        // A pinned connection never goes to the shared idle list.
        _ = machine.lendPinned(server: Self.mbx01, connection: first)
        #expect(
            machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1))
                == .close(releasePinnedSlot: true))
        budget.release(0)
        #expect(machine.pinnedCount(Self.mbx01) == 0 && budget.current == [0, 0])
        #expect(machine.outstanding == [0, 0])
    }

    @Test func aClosingPinnedConnectionReportsItsSlotOnce() {
        var machine = makeMachine()
        let first = connectedLease(&machine, now: at(0))
        #expect(machine.keepPinned(server: Self.mbx01, connection: first, acquire: { true }) == .keep)
        #expect(machine.closed(first) == true)
        #expect(machine.closed(first) == false)
        #expect(machine.pinnedCount(Self.mbx01) == 0)
        // Lent after it closed (a race with the backend's close): the lease still counts and ends.
        _ = machine.lendPinned(server: Self.mbx01, connection: first)
        #expect(machine.keepPinned(server: Self.mbx01, connection: first, acquire: { true }) == .close(releasePinnedSlot: false))
        #expect(machine.outstanding == [0, 0] && machine.pinnedCount(Self.mbx01) == 0)
    }

    @Test func shutdownClosesEveryIdleConnection() {
        var machine = makeMachine()
        let first = connectedLease(&machine, now: at(0))
        let second = connectedLease(&machine, Self.mbx02, now: at(0))
        _ = machine.released(server: Self.mbx01, connection: first, reusable: true, now: at(1))
        _ = machine.released(server: Self.mbx02, connection: second, reusable: true, now: at(1))
        #expect(Set(machine.closeAll()) == [first, second])
        #expect(machine.idleCount(Self.mbx01) == 0 && machine.idleCount(Self.mbx02) == 0)
    }
}

/// Passive ejection per (server, service), shared by every event loop's pool.
@Suite struct PassiveEjectionTableTests {
    static let second: UInt64 = 1_000_000_000
    static let now: UInt64 = 1_000 * second
    static let ews = 0
    static let owa = 1

    static func pool() throws -> BackendPool {
        let trust = BackendTrust(useSystemStore: true)  // never used: nothing connects here
        return BackendPool(
            name: "mailbox",
            servers: [
                BackendServer(name: "mbx01", host: "127.0.0.1", port: 1, tlsName: "mbx01.contoso.lab"),
                BackendServer(name: "mbx02", host: "127.0.0.1", port: 2, tlsName: "mbx02.contoso.lab")
            ],
            tls: try TLSClientContext(trust: trust), connectTimeout: .seconds(1), idleTimeout: .seconds(60),
            maxIdlePerServer: 4, healthPaths: ["/EWS/healthcheck.htm", "/owa/healthcheck.htm"])
    }

    @Test func aBurstOfGatewayErrorsEjectsOneServiceOnly() {
        let table = PassiveEjectionTable(servers: 2, services: 2)
        for _ in 0..<(PassiveEjection.burst - 1) {
            #expect(!table.responded(server: 0, service: Self.ews, status: 503, now: Self.now))
        }
        #expect(table.responded(server: 0, service: Self.ews, status: 503, now: Self.now))
        #expect(table.isSuspect(server: 0, service: Self.ews, now: Self.now))
        #expect(!table.isSuspect(server: 0, service: Self.owa, now: Self.now))
        #expect(!table.isSuspect(server: 0, service: nil, now: Self.now))
        #expect(!table.isSuspect(server: 1, service: Self.ews, now: Self.now))
        #expect(!table.isSuspect(server: 0, service: Self.ews, now: Self.now + PassiveEjection.baseBackoff))
        let suspects = table.suspects(now: Self.now)
        #expect(suspects[0].server == false && suspects[0].services == [true, false])
    }

    @Test func aGoodAnswerBetweenGatewayErrorsResetsTheBurst() {
        let table = PassiveEjectionTable(servers: 1, services: 1)
        for _ in 0..<(PassiveEjection.burst - 1) {
            _ = table.responded(server: 0, service: 0, status: 502, now: Self.now)
        }
        #expect(!table.responded(server: 0, service: 0, status: 200, now: Self.now))
        #expect(!table.responded(server: 0, service: 0, status: 504, now: Self.now))
        #expect(!table.isSuspect(server: 0, service: 0, now: Self.now))
    }

    @Test func connectFailuresEjectTheServerForEveryService() {
        let table = PassiveEjectionTable(servers: 2, services: 2)
        #expect(table.connectFailed(server: 1, now: Self.now))
        #expect(table.isSuspect(server: 1, service: Self.ews, now: Self.now))
        #expect(table.isSuspect(server: 1, service: Self.owa, now: Self.now))
        #expect(table.isSuspect(server: 1, service: nil, now: Self.now))
        #expect(!table.isSuspect(server: 0, service: Self.owa, now: Self.now))
        table.connected(server: 1)
        #expect(!table.isSuspect(server: 1, service: Self.owa, now: Self.now))
        // A route without a health service counts its gateway errors for the server.
        for _ in 0..<PassiveEjection.burst { _ = table.responded(server: 0, service: nil, status: 503, now: Self.now) }
        #expect(table.isSuspect(server: 0, service: Self.owa, now: Self.now))
    }

    @Test func twoEventLoopsShareWhatEitherLearns() throws {
        let pool = try Self.pool()
        let loopA = EmbeddedEventLoop()
        let loopB = EmbeddedEventLoop()
        let onA = LoopBackendPool(pool: pool, eventLoop: loopA)
        let onB = LoopBackendPool(pool: pool, eventLoop: loopB)
        // Loop A sees EWS on mbx01 answer a burst of 503s.
        var ejected = false
        for _ in 0..<PassiveEjection.burst {
            ejected = onA.responded(serverIndex: 0, service: Self.ews, status: 503) || ejected
        }
        #expect(ejected)
        // Loop B leaves mbx01 for EWS at once, and keeps it for OWA.
        for _ in 0..<6 {
            #expect(onB.choose(service: Self.ews, anchor: nil, excluding: [], needsPinnedRoom: false) == .server(1))
        }
        let owa = (0..<6).map { _ in onB.choose(service: Self.owa, anchor: nil, excluding: [], needsPinnedRoom: false) }
        #expect(owa.contains(.server(0)))
        // With no other server left, a suspect one is still used.
        #expect(onB.choose(service: Self.ews, anchor: nil, excluding: [1], needsPinnedRoom: false) == .server(0))
        // A connect failure seen on loop B makes mbx02 suspect for every service on loop A.
        #expect(onB.connectFailed(serverIndex: 1))
        #expect(onA.choose(service: Self.owa, anchor: nil, excluding: [], needsPinnedRoom: false) == .server(0))
        #expect(onA.choose(service: Self.ews, anchor: nil, excluding: [0], needsPinnedRoom: false) == .server(1))
        try loopA.syncShutdownGracefully()
        try loopB.syncShutdownGracefully()
    }
}
