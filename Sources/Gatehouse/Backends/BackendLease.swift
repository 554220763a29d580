import NIOCore

/// A request's claim on one server of a loop's pool: counted among the server's requests in flight
/// from `LoopBackendPool.lease` (or `lendPinned`) until exactly one of `release`, `keepPinned` or
/// `abandon` consumes it. Non-copyable, so a lease cannot be ended twice: the compiler refuses a
/// second use of the same value, and a lease kept in an optional is taken out of it once (`take()`).
struct BackendLease: ~Copyable {
    /// The server the lease counts against.
    let serverIndex: Int
    /// The lease's name in the pool's state machine.
    let id: LoopBackendPool.LeaseID
    /// Completes with the connection (reused or new), or fails (connect or TLS failure, queue
    /// timeout). Nil for a pinned connection lent again: that one is at hand.
    let connection: EventLoopFuture<(BackendConnection, reused: Bool)>?
    /// An idle connection handed over at once (the keep-alive case): no future to wait for, and
    /// `connection` is nil.
    var idle: BackendConnection? = nil
}
