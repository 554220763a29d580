import Atomics
import NIOConcurrencyHelpers

/// Passive health of one pool per (server, service), shared by all event loops: what one loop
/// learns (connect failures, a burst of 503s from one virtual directory) every loop acts on at once.
///
/// The service is a route's health service (`RoutePolicy.healthService`, an index into the pool's
/// `healthPaths`); nil is the server itself. Connect and TLS failures count for the server, so they
/// make it suspect for every service; a burst of gateway errors counts for the service it came from,
/// so EWS taken offline on mbx01 keeps OWA on mbx01.
///
/// The data path reads without locks: each entry's suspect-until instant and whether it counts
/// anything are mirrored in atomics. The lock is taken only to count a failure, and for the first
/// success after one. Built once per pool; nothing is allocated per request.
final class PassiveEjectionTable: Sendable {
    let servers: Int
    /// The pool's health services (the server-level entry comes on top of these).
    let services: Int
    /// Authoritative state per entry, `server * (services + 1) + (service + 1)`; entry 0 of each
    /// server is the server-level one.
    private let entries: NIOLockedValueBox<[PassiveEjection]>
    /// Per entry: `PassiveEjection.suspectUntil`.
    private let suspectUntil: [ManagedAtomic<UInt64>]
    /// Per entry: `failures > 0` (bit 0) and `gatewayErrors > 0` (bit 1).
    private let counting: [ManagedAtomic<UInt8>]

    init(servers: Int, services: Int) {
        self.servers = servers
        self.services = services
        let count = servers * (services + 1)
        self.entries = NIOLockedValueBox(Array(repeating: PassiveEjection(), count: count))
        self.suspectUntil = (0..<count).map { _ in ManagedAtomic<UInt64>(0) }
        self.counting = (0..<count).map { _ in ManagedAtomic<UInt8>(0) }
    }

    /// Whether `server` is suspect for `service` at `now`: the server itself, or that service on it.
    func isSuspect(server: Int, service: Int?, now: UInt64) -> Bool {
        let base = server * (services + 1)
        if suspect(entry: base, now: now) { return true }
        guard let service = checked(service) else { return false }
        return suspect(entry: base + service + 1, now: now)
    }

    /// A new connection to `server` failed (TCP or TLS): counts for the server, so for every
    /// service. Returns true when this made it suspect.
    func connectFailed(server: Int, now: UInt64) -> Bool {
        update(entry: server * (services + 1)) { $0.connectFailed(now: now) }
    }

    /// A connection to `server` was opened: the server is reachable again.
    func connected(server: Int) {
        let entry = server * (services + 1)
        // Fast path: nothing was counted, so nothing to reset and no lock to take.
        if counting[entry].load(ordering: .relaxed) & 1 == 0, suspectUntil[entry].load(ordering: .relaxed) == 0 {
            return
        }
        _ = update(entry: entry) {
            $0.connected()
            return false
        }
    }

    /// A response with `status` came from `server` for `service` (nil: the server).
    /// Returns true when a burst of gateway errors made it suspect.
    func responded(server: Int, service: Int?, status: UInt, now: UInt64) -> Bool {
        let entry = server * (services + 1) + (checked(service).map { $0 + 1 } ?? 0)
        let isGatewayError = status == 502 || status == 503 || status == 504
        // Fast path: a good answer with no gateway errors counted changes nothing.
        if !isGatewayError, counting[entry].load(ordering: .relaxed) & 2 == 0 { return false }
        return update(entry: entry) { $0.responded(status: status, now: now) }
    }

    /// Which entries are suspect at `now`, per server: the server itself and each service (admin state).
    func suspects(now: UInt64) -> [(server: Bool, services: [Bool])] {
        (0..<servers).map { server in
            let base = server * (services + 1)
            return (suspect(entry: base, now: now), (0..<services).map { suspect(entry: base + $0 + 1, now: now) })
        }
    }

    private func suspect(entry: Int, now: UInt64) -> Bool {
        let until = suspectUntil[entry].load(ordering: .relaxed)
        return until != 0 && now < until
    }

    /// A service index this table knows, else nil (counted as the server).
    private func checked(_ service: Int?) -> Int? {
        guard let service, service >= 0, service < services else { return nil }
        return service
    }

    private func update(entry: Int, _ change: (inout PassiveEjection) -> Bool) -> Bool {
        entries.withLockedValue { entries in
            let result = change(&entries[entry])
            let state = entries[entry]
            suspectUntil[entry].store(state.suspectUntil, ordering: .relaxed)
            counting[entry].store((state.failures > 0 ? 1 : 0) | (state.gatewayErrors > 0 ? 2 : 0), ordering: .relaxed)
            return result
        }
    }
}
