import Atomics

/// How many client connections of one kind may be open at once. The TLS listeners share one cap
/// (`limits.max_connections`) and the plain-HTTP redirect listeners another
/// (`limits.max_redirect_connections`), so sockets held open on the redirect port can never use
/// up the places HTTPS clients need.
///
/// Lock-free: the accept path of every event loop counts here. A connection over the cap is
/// refused at once, before any TLS or HTTP work, so a flood cannot exhaust memory or descriptors.
final class ConnectionCap: Sendable {
    /// What `admit()` decided.
    enum Admission: Equatable {
        /// Counted; call `release()` once the connection closes.
        case admitted
        /// Over the cap: close the connection. `firstOfBurst` is true for the first refusal since
        /// the count was last below the cap (warn once per burst, not per connection).
        case refused(firstOfBurst: Bool)
    }

    /// The most connections open at once.
    let limit: Int
    /// The configuration key that sets `limit`, for the warning.
    let key: String
    private let open = ManagedAtomic<Int>(0)
    /// Refused connections since the count was last below the cap.
    private let refused = ManagedAtomic<Int>(0)

    init(limit: Int, key: String) {
        self.limit = limit
        self.key = key
    }

    /// Connections counted now.
    var count: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection, or refuses it when the cap is reached.
    func admit() -> Admission {
        if open.wrappingIncrementThenLoad(ordering: .relaxed) > limit {
            open.wrappingDecrement(ordering: .relaxed)
            return .refused(firstOfBurst: refused.wrappingIncrementThenLoad(ordering: .relaxed) == 1)
        }
        return .admitted
    }

    /// An admitted connection closed.
    func release() {
        if open.wrappingDecrementThenLoad(ordering: .relaxed) < limit {
            refused.store(0, ordering: .relaxed)
        }
    }
}
