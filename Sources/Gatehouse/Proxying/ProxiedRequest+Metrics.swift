import NIOCore

extension ProxiedRequest {
    /// Counts the finished request in its route's metrics (or the unrouted ones), once, next to
    /// its access-log line. Per request: an index into prebuilt handles, relaxed atomic adds and
    /// one histogram observation; no allocation, no label strings.
    func recordMetrics(status: UInt, elapsed: TimeAmount) {
        let aborted = cutShort || status == 0
        if let metrics = policy?.metrics {
            metrics.record(
                server: machine.currentServer, status: status, aborted: aborted, head: clientHead,
                bytesIn: machine.requestBodyBytes, bytesOut: machine.responseBodyBytes,
                seconds: Double(elapsed.nanoseconds) / 1e9,
                loop: handler.loopIndex(of: eventLoop))
        } else if policy == nil, let unrouted = environment.metrics?.unrouted {
            unrouted.record(
                status: status, aborted: aborted, bytesIn: machine.requestBodyBytes,
                bytesOut: machine.responseBodyBytes)
        }
    }
}
