import GatehouseHTTP1
import NIOCore

/// The connection's one deadline check for its requests, on the loop's `ConnectionClock` (see
/// `ProxyHandler.deadlineClock`), and requests leaving the table, which disarms it when the last
/// one goes.
extension ProxyHandler: ConnectionClockClient {
    /// A request finished (successfully or not) and leaves the table.
    func requestFinished(_ request: ProxiedRequest) {
        if requests[request.stream] === request {
            requests[request.stream] = nil
        }
        if requests.isEmpty, let deadlineClock {
            // Nothing left to time: no check runs while the connection is idle.
            deadlineClock.clock.disarm(deadlineClock.entry)
            deadlineCheckAt = .distantFuture
        }
    }

    /// Makes the connection's deadline check run no later than `deadline` (a request's next limit).
    func armDeadlineCheck(at deadline: NIODeadline) {
        guard deadline < deadlineCheckAt, let context else { return }
        deadlineCheckAt = deadline
        if deadlineClock == nil {
            let clock = ConnectionClock.on(context.eventLoop)
            deadlineClock = (clock, clock.add(self))
        }
        if let deadlineClock { deadlineClock.clock.arm(deadlineClock.entry, at: deadline) }
    }

    /// The clock reached the check's time (at most one tick, 100 ms, after it).
    func connectionClockFired(now: NIODeadline) {
        guard context != nil, deadlineCheckAt <= now else { return }
        runDeadlineCheck()
    }

    /// The check: each request whose own check time has come runs it (and re-arms through
    /// `armDeadlineCheck`); the others re-arm the connection's check for their time.
    private func runDeadlineCheck() {
        deadlineCheckAt = .distantFuture
        let now = context?.eventLoop.now ?? .now()
        for request in Array(requests.values) {
            if request.deadlineCheckAt <= now {
                request.checkDeadlines()
            } else if request.deadlineCheckAt != .distantFuture {
                armDeadlineCheck(at: request.deadlineCheckAt)
            }
        }
    }
}
