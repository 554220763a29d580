import NIOConcurrencyHelpers
import NIOCore

/// Enforces `limits.max_connections`: counts the open client connections of every listener
/// together and refuses new ones beyond the limit, so a flood of connections cannot exhaust file
/// descriptors or memory. Refused connections are closed right after accept.
///
/// Shared by the listeners' event loops, hence the lock; it is taken twice per connection (accept
/// and close), never per request.
final class ConnectionLimiter: Sendable {
    /// The error a refused connection's initializer fails with (NIO then closes the socket).
    struct LimitReached: Error, CustomStringConvertible {
        var limit: Int
        var description: String { "max_connections (\(limit)) reached: connection refused" }
    }

    private struct State {
        var open = 0
        var refusedSinceWarning = 0
        var lastWarning: NIODeadline?
    }

    let limit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The number of admitted connections not yet closed.
    var openConnections: Int { state.withLockedValue { $0.open } }

    /// Admits `channel` and gives its slot back when it closes; or, when the limit is reached,
    /// returns an error for the channel initializer to fail with, plus the number of refusals to
    /// report (at most one warning per second, so a flood does not flood the log too).
    func admit(_ channel: Channel) -> (error: LimitReached, refusedToReport: Int?)? {
        let refusal: (LimitReached, Int?)? = state.withLockedValue { state in
            guard state.open >= limit else {
                state.open += 1
                return nil
            }
            state.refusedSinceWarning += 1
            let now = NIODeadline.now()
            if let last = state.lastWarning, now - last < .seconds(1) { return (LimitReached(limit: limit), nil) }
            state.lastWarning = now
            defer { state.refusedSinceWarning = 0 }
            return (LimitReached(limit: limit), state.refusedSinceWarning)
        }
        if let refusal { return refusal }
        channel.closeFuture.whenComplete { [state] _ in
            state.withLockedValue { $0.open -= 1 }
        }
        return nil
    }
}
