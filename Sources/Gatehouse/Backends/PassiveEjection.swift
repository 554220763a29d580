/// Passive health of one (server, service) entry of a pool (`PassiveEjectionTable` holds one per
/// entry, shared by all event loops): connect or TLS failures, and bursts of gateway errors
/// (502/503/504), make it *suspect* for a backoff that doubles with each repeated failure. A suspect
/// server is used only when no other healthy server is left. Pure value; time is passed in
/// (nanoseconds of `NIODeadline.uptimeNanoseconds`) so tests control it.
struct PassiveEjection {
    /// Consecutive gateway errors that count as a burst.
    static let burst = 5
    static let baseBackoff: UInt64 = 1_000_000_000
    static let maxBackoff: UInt64 = 30_000_000_000

    /// Consecutive connect/TLS failures.
    private(set) var failures = 0
    /// Consecutive 502/503/504 responses. (500 is not counted: EWS answers SOAP faults with 500.)
    private(set) var gatewayErrors = 0
    /// Suspect until this instant; 0 when not suspect.
    private(set) var suspectUntil: UInt64 = 0

    /// Whether the server is suspect at `now`.
    func isSuspect(now: UInt64) -> Bool { suspectUntil != 0 && now < suspectUntil }

    /// A new connection could not be opened (TCP or TLS). Returns true when this made it suspect.
    mutating func connectFailed(now: UInt64) -> Bool {
        failures += 1
        return eject(strikes: failures, now: now)
    }

    /// A connection was opened: the server is reachable again.
    mutating func connected() {
        failures = 0
        suspectUntil = 0
    }

    /// A response with `status` arrived. Returns true when a burst of gateway errors made it suspect.
    mutating func responded(status: UInt, now: UInt64) -> Bool {
        guard status == 502 || status == 503 || status == 504 else {
            gatewayErrors = 0
            return false
        }
        gatewayErrors += 1
        guard gatewayErrors % PassiveEjection.burst == 0 else { return false }
        return eject(strikes: gatewayErrors / PassiveEjection.burst, now: now)
    }

    private mutating func eject(strikes: Int, now: UInt64) -> Bool {
        let wasSuspect = isSuspect(now: now)
        let shift = UInt64(min(strikes - 1, 5))
        suspectUntil = now + min(PassiveEjection.baseBackoff << shift, PassiveEjection.maxBackoff)
        return !wasSuspect
    }
}
