import Foundation

/// The session-ticket keys of every listener without `tls.ticket_keys`: random, made in this
/// process, never written anywhere, and rotated by time, so that a stolen key opens a bounded
/// window of sessions and a reload does not throw away the tickets clients hold.
///
/// A new key starts encrypting every `period`; the `keep` newest keys decrypt (a ticket opened
/// with an older one is renewed under the current key, as with a key file). With the defaults (one
/// hour, three keys) a ticket resumes for at least two hours after it was issued, the default
/// session lifetime, and never past three. Rotation happens on use, under a lock, when OpenSSL
/// seals or opens a ticket: no timer, and the clock is passed in so tests can move it.
public final class AutomaticTicketKeys: @unchecked Sendable {
    /// The ring every listener without a key file shares, for the life of the process (reloads
    /// build new certificate stores, but keep these keys).
    public static let shared = AutomaticTicketKeys()

    /// How long one key encrypts.
    public let period: TimeInterval
    /// How many keys decrypt (the current one included).
    public let keep: Int

    private let lock = NSLock()
    private var ring: TicketKeyRing?
    private var rotatesAt: TimeInterval = 0

    public init(period: TimeInterval = 3_600, keep: Int = 3) {
        precondition(period > 0 && keep >= 1, "a ticket key period must be positive and at least one key kept")
        self.period = period
        self.keep = keep
    }

    /// The keys to use at `now` (seconds on any monotonic-enough clock; `Date().timeIntervalSince1970`
    /// in production): the first call makes the first key; a call one period or more after the last
    /// rotation makes a fresh key current. A clock that jumps several periods ahead rotates once:
    /// the keys still kept stay valid until their turn to be dropped.
    public func ring(now: TimeInterval) throws -> TicketKeyRing {
        lock.lock()
        defer { lock.unlock() }
        if let ring, now < rotatesAt { return ring }
        let key = try TicketKey.random()
        let next = ring.map { $0.rotated(adding: key, keep: keep) } ?? TicketKeyRing(keys: [key])!
        ring = next
        rotatesAt = now + period
        return next
    }
}
