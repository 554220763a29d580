import NIOConcurrencyHelpers

/// The mutable state shared by all connections of one simulator: maintenance switches and counters.
///
/// Connections live on different event loops, so the state sits behind one lock; it is touched a
/// few times per request, never per byte.
public final class SimState: Sendable {
    /// What the lock protects.
    struct Values {
        var serverOffline = false
        var offlineServices: Set<SimService> = []
        var connectionsAccepted = 0
        var connectionsOpen = 0
        var requests = 0
        var authenticatedConnections = 0
    }

    private let values = NIOLockedValueBox(Values())

    /// Creates the state of a fresh simulator: online, no connections yet.
    public init() {}

    /// Registers a new TCP connection and returns its id (1, 2, 3, ... per process).
    func connectionOpened() -> Int {
        values.withLockedValue { values in
            values.connectionsAccepted += 1
            values.connectionsOpen += 1
            return values.connectionsAccepted
        }
    }

    /// Registers the end of a TCP connection.
    func connectionClosed() {
        values.withLockedValue { $0.connectionsOpen -= 1 }
    }

    /// Counts one request head.
    func requestStarted() {
        values.withLockedValue { $0.requests += 1 }
    }

    /// Counts one successful NTLM authentication of a connection.
    func connectionAuthenticated() {
        values.withLockedValue { $0.authenticatedConnections += 1 }
    }

    /// Takes `service` (or, when nil, the whole server) out of service: its healthcheck.htm answers 503.
    public func setOffline(_ service: SimService?) {
        values.withLockedValue { values in
            if let service { values.offlineServices.insert(service) } else { values.serverOffline = true }
        }
    }

    /// Puts `service` (or, when nil, the whole server) back in service. Bringing the whole server
    /// online leaves services that were taken offline individually offline.
    public func setOnline(_ service: SimService?) {
        values.withLockedValue { values in
            if let service { values.offlineServices.remove(service) } else { values.serverOffline = false }
        }
    }

    /// True when `service`'s health check should fail.
    public func isOffline(_ service: SimService) -> Bool {
        values.withLockedValue { $0.serverOffline || $0.offlineServices.contains(service) }
    }

    /// A consistent copy of the state.
    var snapshot: Values { values.withLockedValue { $0 } }
}
