import NIOCore

/// The clocks of one proxied request, as data: which of its timeouts runs in its current phase,
/// and when the earliest one runs out. Time is passed in, so the rules are tested without timers;
/// `ProxiedRequest` keeps one scheduled check at `nextDeadline` and asks `expired(at:)` when it fires.
struct RequestDeadlines {
    /// Which limit ran out.
    enum Expiry: Equatable {
        /// No byte either way for `idle`.
        case idle
        /// No backend connection within `connect` (pooled, or TCP plus TLS).
        case connect
        /// No response head within `header` after the whole request was sent.
        case header
        /// The whole exchange took longer than `total`.
        case total
    }

    let idle: TimeAmount
    let connect: TimeAmount
    let header: TimeAmount
    let total: TimeAmount?
    let started: NIODeadline
    private(set) var lastActivity: NIODeadline
    /// Set while the request waits for a backend connection.
    private(set) var connectingSince: NIODeadline?
    /// Set from the moment the whole request reached the backend until its response head arrives.
    private(set) var sentSince: NIODeadline?

    init(idle: TimeAmount, connect: TimeAmount, header: TimeAmount, total: TimeAmount?, now: NIODeadline) {
        self.idle = idle
        self.connect = connect
        self.header = header
        self.total = total
        self.started = now
        self.lastActivity = now
    }

    /// A byte moved either way.
    mutating func activity(at now: NIODeadline) { lastActivity = now }

    /// The request starts waiting for a backend connection (first attempt or a resend).
    mutating func connecting(at now: NIODeadline) {
        connectingSince = now
        sentSince = nil
        lastActivity = now
    }

    /// A backend connection was attached.
    mutating func connected(at now: NIODeadline) {
        connectingSince = nil
        lastActivity = now
    }

    /// The end of the request was written to the backend; the header clock starts.
    mutating func requestSent(at now: NIODeadline) {
        sentSince = now
        lastActivity = now
    }

    /// The backend's final response head arrived; the header clock stops.
    mutating func responseHeadReceived(at now: NIODeadline) {
        sentSince = nil
        lastActivity = now
    }

    /// The earliest moment one of the running limits can run out.
    var nextDeadline: NIODeadline {
        var next = lastActivity + idle
        if let connectingSince { next = min(next, connectingSince + connect) }
        if let sentSince { next = min(next, sentSince + header) }
        if let total { next = min(next, started + total) }
        return next
    }

    /// The limit that has run out at `now`, if any (the most specific one first).
    func expired(at now: NIODeadline) -> Expiry? {
        if let connectingSince, now >= connectingSince + connect { return .connect }
        if let sentSince, now >= sentSince + header { return .header }
        if let total, now >= started + total { return .total }
        if now >= lastActivity + idle { return .idle }
        return nil
    }

    /// How the log and the 504's reason describe an expiry.
    func describe(_ expiry: Expiry) -> String {
        switch expiry {
        case .idle: return "(no data for \(Self.seconds(idle)) s)"
        case .connect: return "(no backend connection within \(Self.seconds(connect)) s)"
        case .header: return "(no response head within \(Self.seconds(header)) s of the request)"
        case .total: return "(total time \(Self.seconds(total ?? .zero)) s)"
        }
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)" : "\(Double(milliseconds) / 1000)"
    }
}
