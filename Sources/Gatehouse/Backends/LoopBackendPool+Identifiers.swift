extension LoopBackendPool {
    /// A server of the pool, by its position in the pool's configuration.
    struct ServerID: Hashable, Sendable, CustomStringConvertible {
        let index: Int

        init(_ index: Int) { self.index = index }

        var description: String { "server#\(index)" }
    }

    /// A backend connection known to one loop's pool: a slot in the pool's connection table and the
    /// slot's generation. A slot is reused after its connection is gone; the generation tells a
    /// late report about the old connection (it closed twice, or after it was expired) from the new one.
    struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
        let slot: Int
        let generation: UInt32

        var description: String { "connection#\(slot).\(generation)" }
    }

    /// One request's claim on a server, from `lease` to its release, pin or abandonment. Names a
    /// queued request (a waiter) while it waits for a connection slot.
    struct LeaseID: Hashable, Sendable, CustomStringConvertible {
        let raw: UInt64

        var description: String { "lease#\(raw)" }
    }
}
