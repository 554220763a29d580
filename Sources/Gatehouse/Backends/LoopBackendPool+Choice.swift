import NIOCore

extension LoopBackendPool {
    /// Why no server could be chosen.
    enum Choice: Equatable {
        case server(Int)
        /// Every server is down for the route's service, drained, or already tried.
        case noHealthyServer
        /// Healthy servers exist, but each has its maximum of pinned (NTLM/Negotiate) connections.
        case pinnedLimitReached
    }

    /// Chooses a server for a new request: one that is healthy for `service` (nil: server-level),
    /// not drained and not in `tried`; a server passively ejected for `service` (suspect) only when
    /// nothing else is left. With an `anchor`, rendezvous hashing keeps one mailbox on one server;
    /// otherwise the pool's balancing policy decides. `needsPinnedRoom`: the request starts
    /// connection-based authentication, so the server must have a free pinned-connection slot.
    /// `bindingService`: the route carries NTLM/Negotiate for a service with Extended Protection,
    /// so a server whose certificate does not bind like the front's is skipped under `bridged`.
    func choose(
        service: Int?, bindingService: Int? = nil, anchor: UInt64?, excluding tried: [Int], needsPinnedRoom: Bool
    ) -> Choice {
        let now = NIODeadline.now().uptimeNanoseconds
        let ejection = pool.ejection
        var lackedRoom = false
        // A nested function, not a closure value: it stays non-escaping, so nothing is allocated.
        func isEligible(_ index: Int, allowSuspect: Bool) -> Bool {
            guard health.accepts(server: index, service: service, bindingService: bindingService), !tried.contains(index) else {
                return false
            }
            if !allowSuspect && ejection.isSuspect(server: index, service: service, now: now) { return false }
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
                picked = balancer.pick(outstanding: machine.outstanding) { isEligible($0, allowSuspect: allowSuspect) }
            }
            if let picked { return .server(picked) }
        }
        return lackedRoom ? .pinnedLimitReached : .noHealthyServer
    }

    /// A new connection to `serverIndex` failed (TCP or TLS): passive ejection of the server, for
    /// every service and on every event loop. Returns true when the server just became suspect.
    @discardableResult
    func connectFailed(serverIndex: Int) -> Bool {
        pool.ejection.connectFailed(server: serverIndex, now: NIODeadline.now().uptimeNanoseconds)
    }

    /// A response with `status` came from `serverIndex` for the route's health `service` (nil: the
    /// server): bursts of 502/503/504 eject the server for that service, on every event loop.
    /// Returns true when it just became suspect.
    @discardableResult
    func responded(serverIndex: Int, service: Int?, status: UInt) -> Bool {
        pool.ejection.responded(
            server: serverIndex, service: service, status: status,
            now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Idle connection count per server (state endpoint, tests).
    var idleCounts: [Int] { pool.servers.indices.map { machine.idleCount(ServerID($0)) } }

    /// This loop's counters (admin endpoint); `suspect` is filled in by the registry from the
    /// pool's shared ejection table.
    var counters: LoopPoolCounters {
        LoopPoolCounters(
            outstanding: machine.outstanding, idle: idleCounts,
            pinned: pool.servers.indices.map { machine.pinnedCount(ServerID($0)) },
            suspect: Array(repeating: 0, count: pool.servers.count),
            open: pool.servers.indices.map { machine.openCount(ServerID($0)) }, requests: machine.requests)
    }
}
