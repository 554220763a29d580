import NIOConcurrencyHelpers
import NIOCore

/// The current `LoopPoolSet`, for the control plane (health publication, admin counters,
/// shutdown). Long-lived: a reload swaps the set inside. The data path never reads it; it uses
/// the set of its request's snapshot (`ProxyEnvironment.pools`).
final class BackendPoolRegistry: Sendable {
    private let current: NIOLockedValueBox<LoopPoolSet>

    init(_ set: LoopPoolSet) {
        self.current = NIOLockedValueBox(set)
    }

    /// The set in use.
    var currentSet: LoopPoolSet { current.withLockedValue { $0 } }

    /// Some event loop of the group (for futures that gather nothing).
    var anyEventLoop: EventLoop { currentSet.anyEventLoop }

    /// Makes `set` current; returns the one it replaces.
    func replace(with set: LoopPoolSet) -> LoopPoolSet {
        current.withLockedValue { current in
            defer { current = set }
            return current
        }
    }

    /// Hands every loop of the current set the new health views.
    func publish(_ views: [PoolHealthView]) { currentSet.publish(views) }

    /// Counters of `pool` in the current set, summed over the loops.
    func counters(of pool: BackendPool) -> EventLoopFuture<LoopPoolCounters> { currentSet.counters(of: pool) }

    /// Closes idle connections of the current set on every loop.
    func closeAll() { currentSet.closeAll() }
}
