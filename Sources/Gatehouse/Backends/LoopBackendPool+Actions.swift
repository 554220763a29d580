import NIOCore

extension LoopBackendPool.StateMachine {
    typealias ServerID = LoopBackendPool.ServerID
    typealias ConnectionID = LoopBackendPool.ConnectionID
    typealias LeaseID = LoopBackendPool.LeaseID

    /// The pool's limits, in the machine's units (nanoseconds).
    struct Settings: Equatable, Sendable {
        /// Idle connections kept per server; a released connection beyond it is closed.
        var maxIdlePerServer: Int
        /// Connects in flight per server; a lease beyond it waits in the queue.
        var maxConnectingPerServer: Int
        /// How long an idle connection is kept.
        var idleTimeout: UInt64
        /// How long a request waits in the queue before it is answered 503.
        var queueTimeout: UInt64

        init(maxIdlePerServer: Int, maxConnectingPerServer: Int, idleTimeout: UInt64, queueTimeout: UInt64) {
            self.maxIdlePerServer = maxIdlePerServer
            self.maxConnectingPerServer = maxConnectingPerServer
            self.idleTimeout = idleTimeout
            self.queueTimeout = queueTimeout
        }

        /// A pool's settings.
        init(pool: BackendPool) {
            self.init(
                maxIdlePerServer: pool.maxIdlePerServer, maxConnectingPerServer: pool.maxConnectingPerServer,
                idleTimeout: UInt64(max(0, pool.idleTimeout.nanoseconds)),
                queueTimeout: UInt64(max(0, pool.queueTimeout.nanoseconds)))
        }
    }

    /// Where a connection is in its life with this pool.
    enum ConnectionState: Equatable {
        /// Being opened (TCP + TLS) for a lease.
        case connecting(ServerID)
        /// In the idle list.
        case idle(ServerID)
        /// In use by a request.
        case leased(ServerID)
        /// Dedicated to one client connection (NTLM/Negotiate), between its requests.
        case pinned(ServerID)
        /// A pinned connection serving a request of its client connection.
        case lentPinned(ServerID)

        /// The server the connection goes to.
        var server: ServerID {
            switch self {
            case .connecting(let server), .idle(let server), .leased(let server), .pinned(let server),
                .lentPinned(let server):
                return server
            }
        }
    }

    /// What to do for a new lease.
    enum LeaseAction: Equatable {
        /// Use this idle connection (it may turn out stale: then `closed` and `reassign`).
        case useIdle(ConnectionID)
        /// Open a new connection; report `connected` or `connectFailed` with this id.
        case connect(ConnectionID)
        /// Queued until a connection is available, or answered 503 at `deadline`.
        case wait(deadline: UInt64)
    }

    /// What to do for a queued request.
    enum WaiterAction: Equatable {
        /// Hand it this idle connection.
        case handIdle(LeaseID, ConnectionID)
        /// Open a new connection for it.
        case connect(LeaseID, ConnectionID)
        /// Its queue deadline passed: fail it (503).
        case fail(LeaseID)
    }

    /// What to do with a released connection.
    enum ReleaseAction: Equatable {
        /// It is idle now; with `serveWaiters`, hand it on to a queued request (on the next loop turn).
        case keepIdle(serveWaiters: Bool)
        /// Close it; with `releasePinnedSlot`, give its slot of the pinned budget back.
        case close(releasePinnedSlot: Bool)
    }

    /// What to do with a connection the request wants to keep for its client connection.
    enum PinAction: Equatable {
        /// It stays with the client connection.
        case keep
        /// Close it (the pinned budget is full, or it is unusable).
        case close(releasePinnedSlot: Bool)
    }

    /// What a timer tick found.
    enum ExpiryAction: Equatable {
        /// This idle connection was unused for the idle timeout: close it.
        case close(ConnectionID)
        /// This queued request waited for the queue timeout: answer it 503.
        case fail(LeaseID, ServerID)
    }
}
