import NIOConcurrencyHelpers
import NIOCore

/// Request rates per server, from the cumulative request counters the state endpoint reads: the
/// counts seen over the last `window` (at most one sample a second is kept), so every reader of
/// `/state` — the status page, a script, a person with curl — gets the same recent rate without
/// keeping history of its own. A pure value with time passed in; `RequestRates` holds it for the
/// admin server.
struct RequestRateWindow {
    /// How far back the rate looks.
    var window: UInt64 = 10_000_000_000
    /// The shortest span a rate is computed over (shorter gives noise, or nothing).
    var minimumSpan: UInt64 = 1_000_000_000
    private var samples: [(at: UInt64, counts: [[Int]])] = []

    /// Records `counts` (per pool, per server) seen at `now` (nanoseconds) and returns requests per
    /// second over the oldest retained sample, or nil for a server without history yet (the first
    /// look, or a configuration whose shape changed).
    mutating func rates(counts: [[Int]], now: UInt64) -> [[Double?]] {
        samples.removeAll { now &- $0.at > window }
        let base = samples.first { $0.counts.map(\.count) == counts.map(\.count) }
        if samples.last.map({ now &- $0.at >= minimumSpan }) ?? true {
            samples.append((now, counts))
        }
        return counts.enumerated().map { pool, servers in
            servers.enumerated().map { server, count in
                guard let base, now &- base.at >= minimumSpan else { return nil }
                let span = Double(now &- base.at) / 1_000_000_000
                return Double(max(0, count - base.counts[pool][server])) / span
            }
        }
    }
}

/// The admin server's `RequestRateWindow`, shared by its connections.
final class RequestRates: Sendable {
    private let window = NIOLockedValueBox(RequestRateWindow())

    func rates(counts: [[Int]]) -> [[Double?]] {
        window.withLockedValue { $0.rates(counts: counts, now: NIODeadline.now().uptimeNanoseconds) }
    }
}
