import Atomics
import NIOConcurrencyHelpers

/// What new connections and new requests use: the environment (router, route policies, pools),
/// the listeners' certificate stores and redirect policies by address, and the client limits.
/// Replaced whole by a reload, never edited.
struct ServingState: Sendable {
    var environment: ProxyEnvironment
    var listeners: [ListenerPlan.Key: ListenerSpec]
    var limits: ClientLimits
}

/// The current `ServingState` behind one lock, and a generation number that every `replace`
/// bumps. The data path takes the lock once per accepted connection (certificates, pipeline
/// limits); per request it only loads the generation (one atomic read of a line that is written
/// once per reload, so it never moves between cores) and takes the lock only when that changed
/// (`ProxyHandler.requestEnvironment`). So a reload reaches keep-alive and HTTP/2 connections at
/// their next request, while a request already running finishes with the snapshot it started with.
final class LiveRuntime: Sendable {
    private let box: NIOLockedValueBox<ServingState>
    private let generationCounter = ManagedAtomic<Int>(0)

    /// Changes after each `replace` (once the new state is in place).
    var generation: Int { generationCounter.load(ordering: .acquiring) }

    init(_ state: ServingState) {
        self.box = NIOLockedValueBox(state)
    }

    var state: ServingState { box.withLockedValue { $0 } }

    /// The environment for a new request.
    var environment: ProxyEnvironment { box.withLockedValue { $0.environment } }

    /// Makes `state` current; returns the one it replaces.
    @discardableResult
    func replace(with state: ServingState) -> ServingState {
        let previous = box.withLockedValue { current in
            defer { current = state }
            return current
        }
        generationCounter.wrappingIncrement(ordering: .releasing)
        return previous
    }
}
