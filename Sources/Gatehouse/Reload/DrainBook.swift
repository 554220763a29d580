/// The bookkeeping of draining one listener's client connections (on reload when the listener is
/// removed, on graceful stop for all): which connections are open, whether draining has begun,
/// and when the last one is gone. Pure; `ConnectionTracker` holds it under a lock.
struct DrainBook<ID: Hashable>: Sendable where ID: Sendable {
    private(set) var open: Set<ID> = []
    private(set) var isDraining = false

    init() {}

    /// A connection was accepted; false when draining has begun (the caller closes it).
    mutating func opened(_ id: ID) -> Bool {
        guard !isDraining else { return false }
        open.insert(id)
        return true
    }

    /// A connection closed; true when it was the last one of a draining listener.
    mutating func closed(_ id: ID) -> Bool {
        guard open.remove(id) != nil else { return false }
        return isDraining && open.isEmpty
    }

    /// Begins draining. Returns the connections to ask to finish (each is asked exactly once: a
    /// second call returns none) and whether nothing is open (drained already).
    mutating func beginDraining() -> (toQuiesce: [ID], drained: Bool) {
        guard !isDraining else { return ([], open.isEmpty) }
        isDraining = true
        return (Array(open), open.isEmpty)
    }

    var isDrained: Bool { isDraining && open.isEmpty }
}
