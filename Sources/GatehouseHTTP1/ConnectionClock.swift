import NIOCore

/// Something with a deadline on a `ConnectionClock`.
public protocol ConnectionClockClient: AnyObject {
    /// The deadline armed for this client has come (`now` is the loop's time; the entry is now
    /// disarmed). A client that re-armed or removed its entry in the same tick, before this call,
    /// may still get it, so it decides from its own state what is due.
    func connectionClockFired(now: NIODeadline)
}

/// The connection deadlines of one event loop (header, idle): a `TimerWheel` and one scheduled
/// task that ticks while any deadline is armed, instead of a scheduled task per connection that
/// each re-arm cancels and schedules again (an O(log n) heap operation and a few allocations, n
/// being the connections the loop holds).
///
/// A connection adds one entry for its lifetime and moves it at each re-arm, in O(1) without
/// allocating; when it closes it removes the entry. The loop's clock drives the wheel, so an
/// `EmbeddedEventLoop`'s `advanceTime` fires it as it fires scheduled tasks.
///
/// Lateness: a deadline fires at the first tick (100 ms, from uptime zero) at or after it, so at
/// most 100 ms late plus whatever delays the loop, and never early. While at least one deadline is
/// armed the loop wakes once per tick, and once more after the last one is disarmed.
///
/// Loop-bound: every method is called on `eventLoop` (`ConnectionClock.on(_:)` hands out the
/// loop's one clock from any thread), hence `@unchecked Sendable`.
public final class ConnectionClock: @unchecked Sendable {
    public typealias Entry = TimerWheel<any ConnectionClockClient>.Handle

    /// The wheel's tick: well inside the seconds the timeouts are configured in.
    public static let tick = TimeAmount.milliseconds(100)
    /// One turn covers 102.4 s; a longer deadline waits in its slot for more turns.
    static let slots = 1024

    /// Weak: the registry keeps clocks, and must not keep dead (test) loops alive.
    private(set) weak var eventLoop: (any EventLoop)?
    private var wheel: TimerWheel<any ConnectionClockClient>
    private var task: Scheduled<Void>?

    init(eventLoop: any EventLoop, tick: TimeAmount = ConnectionClock.tick, slots: Int = ConnectionClock.slots) {
        self.eventLoop = eventLoop
        self.wheel = TimerWheel(tick: tick, slots: slots, now: .uptimeNanoseconds(0))
    }

    /// Deadlines armed now (tests, metrics).
    public var armedCount: Int { wheel.armedCount }
    /// Entries held now, armed or not.
    public var entryCount: Int { wheel.count }
    /// Whether the tick task is scheduled.
    public var isTicking: Bool { task != nil }

    /// A new entry for `client`, not armed. The clock keeps `client` until `remove`.
    public func add(_ client: any ConnectionClockClient) -> Entry {
        wheel.add(client)
    }

    /// Arms the entry for `deadline`, or moves it there.
    public func arm(_ entry: Entry, at deadline: NIODeadline) {
        if wheel.armedCount == 0, let eventLoop {
            // Idle until now: the ticks since are walked at once (nothing is in them).
            _ = wheel.advance(to: eventLoop.now)
        }
        wheel.arm(entry, at: deadline)
        startTicking()
    }

    /// Disarms the entry (it stays, for the next `arm`). The tick task is left to run out: when
    /// it finds nothing armed it does not schedule itself again. Cancelling it here would cost a
    /// cancel and a new task per request on a loop with one busy connection (disarmed while a
    /// request is answered, armed again after it).
    public func disarm(_ entry: Entry) {
        wheel.disarm(entry)
    }

    /// Removes the entry and lets go of its client; the entry must not be used again. When it was
    /// the loop's last connection, the tick task is cancelled: its promise holds the loop, and a
    /// loop that is never ticked again (a test's or a fuzz input's embedded loop) would otherwise
    /// live on with its clock. Once per emptied loop, never per request.
    public func remove(_ entry: Entry) {
        wheel.remove(entry)
        if wheel.count == 0, let pending = task {
            task = nil
            pending.cancel()
        }
    }

    private func startTicking() {
        guard task == nil, wheel.armedCount > 0, let eventLoop else { return }
        task = eventLoop.assumeIsolated().scheduleTask(deadline: wheel.nextTick) { [self] in
            task = nil
            tick()
        }
    }

    /// Walks the wheel to the loop's time and tells the clients whose deadlines came.
    private func tick() {
        guard let eventLoop else { return }
        let now = eventLoop.now
        let due = wheel.advance(to: now)
        if !due.isEmpty {
            // Payloads first: a client's callback may remove other entries (or add new ones).
            let clients = due.map { wheel.payload($0) }
            for client in clients { client.connectionClockFired(now: now) }
        }
        startTicking()
    }
}
