import NIOCore

extension TimeAmount {
    /// Converts a Swift `Duration` (what the configuration holds) to NIO's `TimeAmount`.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
