import Logging
import NIOCore
import NIOHTTP1

// MARK: - Backend pool calls
//
// Every call from the request code into the backend pool (`choose`, `lease`, `release`,
// `keepPinned`, `lendPinned`, `abandon`, `responded`, `connectFailed`, `pool.servers`) and into
// the client connection's pinned slot is in this file, so a new pool API is adapted here only.

extension ProxiedRequest {
    /// The route's pool on this event loop.
    func usePool(of policy: RoutePolicy) {
        loopPool = environment.pools.pool(policy.poolIndex, on: eventLoop)
    }

    /// Sends the request towards a backend: this client connection's pinned (NTLM/Negotiate)
    /// connection when it has one for this pool, else a server chosen by health, drain state,
    /// anchor-mailbox affinity and the pool's balancing. The machine's `.connect` and `.resend`.
    func connect() {
        if let pinned = handler.pinned, pinned.pool === loopPool {
            handler.pinned = nil
            if !pinned.connection.isClosed && pinned.connection.channel.isActive {
                // Same client connection, same authenticated backend connection (even when its
                // server is drained: a graceful drain lets existing sessions finish).
                serverIndex = pinned.serverIndex
                machine.serverChosen(pinned.serverIndex, pinned: true)
                lease = pinned.pool.lendPinned(pinned.connection, serverIndex: pinned.serverIndex)
                attach(pinned.connection)
                perform(machine.leased(now: eventLoop.now))
                return
            }
            pinned.connection.close()
        }
        guard let loopPool, let policy else {
            perform(machine.leaseFailed(.noHealthyServer, now: eventLoop.now))
            return
        }
        if policy.affinity == .anchorMailbox, machine.triedServers.isEmpty, let backendHead {
            anchor = AnchorMailbox.hash(of: backendHead)
        }
        let tried = machine.triedServers
        var choice = loopPool.choose(
            service: policy.healthService, bindingService: policy.bindingService, anchor: anchor, excluding: tried.asArray,
            needsPinnedRoom: machine.needsPinnedRoom)
        if choice == .noHealthyServer, !tried.isEmpty {
            // A resend with no other healthy server left: the same server, on a new connection.
            choice = loopPool.choose(
                service: policy.healthService, bindingService: policy.bindingService, anchor: anchor, excluding: [],
                needsPinnedRoom: machine.needsPinnedRoom)
        }
        let index: Int
        switch choice {
        case .server(let chosen):
            index = chosen
        case .noHealthyServer:
            perform(machine.leaseFailed(.noHealthyServer, now: eventLoop.now))
            return
        case .pinnedLimitReached:
            perform(machine.leaseFailed(.pinnedLimitReached, now: eventLoop.now))
            return
        }
        serverIndex = index
        machine.serverChosen(index, pinned: false)
        let lease = loopPool.lease(serverIndex: index)
        if let idle = lease.idle {
            // Keep-alive: an idle connection, at once (no future, no callback).
            self.lease = consume lease
            leaseGranted(idle, pool: loopPool)
            return
        }
        let leased = lease.connection!
        self.lease = consume lease
        leased.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let (connection, reused)):
                if !reused { policy.metrics?.pool?.connected(server: index) }
                leaseGranted(connection, pool: loopPool)
            case .failure(let error):
                if let lease = self.lease.take() { loopPool.abandon(lease) }
                let server = loopPool.pool.servers[index].name
                let backendError = error as? BackendError ?? .connectFailed(server: server, reason: "\(error)")
                if case .queueTimeout = backendError {
                    // Queued behind max_connecting_per_server connects for queue_timeout: the pool
                    // is overloaded, not the server broken (no ejection, no resend).
                    guard machine.isConnecting else { return }
                    environment.logger.warning(
                        "backend unavailable",
                        metadata: [
                            "route": "\(policy.name)", "pool": "\(loopPool.pool.name)", "error": "\(backendError)"
                        ])
                    perform(machine.leaseFailed(.queueTimedOut(backendError), now: eventLoop.now))
                    return
                }
                policy.metrics?.pool?.connectFailed(server: index)
                if loopPool.connectFailed(serverIndex: index) {
                    policy.metrics?.pool?.ejected(server: index)
                    environment.logger.warning(
                        "backend suspect: passive ejection after a connect failure",
                        metadata: [
                            "pool": "\(loopPool.pool.name)", "server": "\(server)", "error": "\(backendError)"
                        ])
                }
                guard machine.isConnecting else { return }
                environment.logger.warning(
                    "backend unavailable",
                    metadata: [
                        "route": "\(policy.name)", "error": "\(backendError)"
                    ])
                let action = machine.leaseFailed(.connectFailed(backendError), now: eventLoop.now)
                // Another server is tried: a resend away from this one, as after a failed connection.
                if case .connect = action { policy.metrics?.pool?.resent(server: index) }
                perform(action)
            }
        }
    }

    /// The pool lent `connection`: the machine sends the request on it, or (the client went away
    /// or was answered meanwhile) it goes back untouched.
    private func leaseGranted(_ connection: BackendConnection, pool loopPool: LoopBackendPool) {
        let action = machine.leased(now: eventLoop.now)
        if case .returnUnusedConnection = action {
            if let lease = self.lease.take() {
                loopPool.release(lease, connection: connection, reusable: true)
            } else {
                connection.close()
            }
            return
        }
        attach(connection)
        perform(action)
    }

    /// Takes `connection` for this request (the machine's `.sendRequest` writes to it next).
    private func attach(_ connection: BackendConnection) {
        self.connection = connection
        connection.delegate = self
    }

    /// The attached connection failed: its lease ends (the machine decides resend or answer).
    func backendDidFail(_ error: Error, on connection: BackendConnection) {
        guard self.connection === connection else { return }
        let backendError = error as? BackendError ?? .protocolError(server: connection.server.name, reason: "\(error)")
        self.connection = nil
        if let loopPool, let lease = self.lease.take() { loopPool.abandon(lease) }
        let action = machine.backendFailed(backendError, now: eventLoop.now)
        let metadata: Logger.Metadata = ["route": "\(policy?.name ?? "?")", "error": "\(backendError)"]
        if case .resend = action {
            policy?.metrics?.pool?.resent(server: serverIndex)
            environment.logger.info("resending request to another backend", metadata: metadata)
        } else {
            environment.logger.warning("backend failed", metadata: metadata)
        }
        perform(action)
    }

    /// Ends the lease after a complete response: back to the pool, kept pinned for this client
    /// connection, or closed. Runs *before* the end reaches the client, so a pipelined request
    /// that the end releases finds the pinned (or idle) connection already in place.
    func releaseConnection(_ release: StateMachine.Release) {
        guard let connection, let loopPool else { return }
        self.connection = nil
        guard let lease = self.lease.take() else {
            connection.close()
            return
        }
        if loopPool.responded(serverIndex: serverIndex, service: policy?.healthService, status: machine.responseStatus) {
            policy?.metrics?.pool?.ejected(server: serverIndex)
            environment.logger.warning(
                "backend suspect: passive ejection after a burst of gateway errors",
                metadata: [
                    "pool": "\(loopPool.pool.name)", "server": "\(connection.server.name)",
                    "service": "\(policy?.healthService.map { loopPool.pool.healthLabels[$0] } ?? "(server)")"
                ])
        }
        switch release {
        case .keepPinned where handler.isActive:
            if loopPool.keepPinned(lease, connection: connection) {
                if let previous = handler.pinned, previous.connection !== connection {
                    // One pinned connection per client connection: an older one (another pool's,
                    // or from a request that overlapped) is closed, which frees its slot.
                    previous.connection.close()
                }
                handler.pinned = (connection, loopPool, serverIndex)
            } else {
                environment.logger.warning(
                    "pinned connection limit reached; connection not kept",
                    metadata: [
                        "pool": "\(loopPool.pool.name)", "server": "\(connection.server.name)"
                    ])
            }
        case .keepPinned, .close:
            loopPool.release(lease, connection: connection, reusable: false)
        case .reuse:
            loopPool.release(lease, connection: connection, reusable: true)
        }
    }

    /// Lets go of the backend connection this request holds, if any, and ends its lease: the
    /// exchange was abandoned midway (client gone, limit exceeded, timeout, a response Gatehouse
    /// refuses), so the connection is closed. With `drainIfSent` (the client went away, nothing is
    /// wrong with the backend) and the whole request sent, the rest of the response is read and
    /// discarded within bounds instead, and the connection goes back to the pool (`BackendDrain`).
    func dropConnection(drainIfSent: Bool = false) {
        guard let connection else { return }
        self.connection = nil
        guard let loopPool, let lease = self.lease.take() else {
            connection.delegate = nil
            connection.close()
            return
        }
        let headReusable: Bool? =
            machine.responseHeadSent
            ? machine.backendKeepAlive && machine.responseFramingKnown : nil
        BackendDrain.drainOrClose(
            lease, connection: connection, pool: loopPool, requestMethod: clientHead.method,
            drainable: drainIfSent && machine.requestEnded && !machine.onPinnedConnection,
            headReusable: headReusable)
    }

    /// The name of the server the request was last sent to, for logs and errors.
    var serverName: String? {
        guard machine.currentServer != nil, let loopPool else { return nil }
        return loopPool.pool.servers[serverIndex].name
    }

    /// The route's pool's name and its cap of pinned connections per server, for answers and logs.
    var poolFacts: (name: String, pinnedLimit: Int)? {
        loopPool.map { ($0.pool.name, $0.pool.pinned.limit) }
    }
}
