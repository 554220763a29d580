import NIOCore

/// A hashed timer wheel: the deadlines of many connections kept by one event loop, so that arming,
/// moving and disarming a deadline is O(1) and allocates nothing, where a scheduled task per
/// connection costs an O(log n) heap operation and several allocations on every re-arm.
///
/// Time is cut into ticks of `tick` since uptime zero (so an `EmbeddedEventLoop`, whose clock starts
/// at zero, sees deadlines on whole ticks fire exactly on them). A deadline is rounded *up* to its
/// tick and kept in slot `tick mod slotCount`, in a doubly linked list threaded through the `entries`
/// array by index. `advance(to:)` walks the slots of the ticks that have passed and returns the
/// entries due. A deadline more than one turn ahead waits in its slot and is passed over (one
/// comparison per turn) until its tick comes.
///
/// Precision: an entry is never returned before its deadline, and `advance(to: now)` returns every
/// entry whose deadline is at or before `now` rounded down to a tick. Driven once per tick, an entry
/// is late by less than one tick (plus however late the driver runs).
///
/// Entries live until `remove`: an entry that expires is only disarmed, so its handle stays valid
/// for its owner (who may arm it again) and a handle is never reused behind its owner's back.
///
/// A value type with time passed in, no timer and no event loop: `ConnectionClock` drives it.
public struct TimerWheel<Payload> {
    /// An entry's place in `entries`; valid from `add` until `remove`.
    public struct Handle: Hashable, Sendable {
        fileprivate let index: Int32
    }

    private struct Entry {
        var payload: Payload?
        /// The tick the entry is due at; `unarmed` when it is in no slot.
        var due: Int64
        var previous: Int32
        var next: Int32
    }

    private static var none: Int32 { -1 }
    private static var unarmed: Int64 { -1 }

    /// The length of one tick in nanoseconds.
    public let tickNanoseconds: Int64
    private let slotMask: Int64
    /// The first entry of each slot's list.
    private var heads: [Int32]
    private var entries: [Entry] = []
    /// Entries freed by `remove`, linked through `next`.
    private var freeList: Int32 = Self.none
    /// Every tick up to and including this one has been walked.
    public private(set) var processedTick: Int64
    /// How many entries are armed (in a slot).
    public private(set) var armedCount = 0
    /// How many entries exist (armed or not).
    public private(set) var count = 0

    /// - Parameters:
    ///   - tick: the wheel's resolution (and the most an entry is late by when driven every tick).
    ///   - slots: how many ticks one turn covers; rounded up to a power of two.
    ///   - now: the wheel starts with every tick up to `now` walked.
    public init(tick: TimeAmount, slots: Int, now: NIODeadline) {
        precondition(tick.nanoseconds > 0 && slots > 0)
        var size = 1
        while size < slots { size <<= 1 }
        tickNanoseconds = tick.nanoseconds
        slotMask = Int64(size - 1)
        heads = Array(repeating: Self.none, count: size)
        processedTick = Self.tickAtOrBefore(now, tickNanoseconds)
    }

    /// How many slots one turn has.
    public var slotCount: Int { heads.count }

    /// Adds an entry, not armed.
    public mutating func add(_ payload: Payload) -> Handle {
        count += 1
        let entry = Entry(payload: payload, due: Self.unarmed, previous: Self.none, next: Self.none)
        if freeList != Self.none {
            let index = freeList
            freeList = entries[Int(index)].next
            entries[Int(index)] = entry
            return Handle(index: index)
        }
        entries.append(entry)
        return Handle(index: Int32(entries.count - 1))
    }

    /// Removes an entry (armed or not) and returns its payload; its handle is invalid afterwards.
    @discardableResult
    public mutating func remove(_ handle: Handle) -> Payload {
        disarm(handle)
        let index = Int(handle.index)
        guard let payload = entries[index].payload else { preconditionFailure("TimerWheel: handle removed twice") }
        entries[index].payload = nil
        entries[index].next = freeList
        freeList = handle.index
        count -= 1
        return payload
    }

    /// Arms the entry for `deadline`, or moves it there if it was armed. A deadline already past is
    /// due at the next tick walked.
    public mutating func arm(_ handle: Handle, at deadline: NIODeadline) {
        let due = max(Self.tickAtOrAfter(deadline, tickNanoseconds), processedTick + 1)
        let index = Int(handle.index)
        precondition(entries[index].payload != nil, "TimerWheel: handle used after remove")
        if entries[index].due == due { return }
        disarm(handle)
        let slot = Int(due & slotMask)
        let head = heads[slot]
        entries[index].due = due
        entries[index].previous = Self.none
        entries[index].next = head
        if head != Self.none { entries[Int(head)].previous = handle.index }
        heads[slot] = handle.index
        armedCount += 1
    }

    /// Takes the entry out of its slot; nothing if it was not armed.
    public mutating func disarm(_ handle: Handle) {
        let index = Int(handle.index)
        let due = entries[index].due
        guard due != Self.unarmed else { return }
        let previous = entries[index].previous
        let next = entries[index].next
        if previous != Self.none {
            entries[Int(previous)].next = next
        } else {
            heads[Int(due & slotMask)] = next
        }
        if next != Self.none { entries[Int(next)].previous = previous }
        entries[index].due = Self.unarmed
        entries[index].previous = Self.none
        entries[index].next = Self.none
        armedCount -= 1
    }

    /// The deadline the entry is due at (its deadline rounded up to a tick), nil when not armed.
    public func due(_ handle: Handle) -> NIODeadline? {
        let due = entries[Int(handle.index)].due
        return due == Self.unarmed ? nil : Self.start(of: due, tickNanoseconds)
    }

    /// The payload of an entry.
    public func payload(_ handle: Handle) -> Payload {
        entries[Int(handle.index)].payload!
    }

    /// When the next tick to walk begins: the earliest time `advance` can find something due.
    public var nextTick: NIODeadline { Self.start(of: processedTick + 1, tickNanoseconds) }

    /// Walks the ticks up to `now` and disarms and returns the entries due by then (their handles
    /// stay valid). Time going backwards walks nothing.
    public mutating func advance(to now: NIODeadline) -> [Handle] {
        let target = Self.tickAtOrBefore(now, tickNanoseconds)
        guard target > processedTick else { return [] }
        defer { processedTick = target }
        guard armedCount > 0 else { return [] }
        var expired: [Handle] = []
        // Every armed entry is due after processedTick, so those due by target are in the slots of
        // the ticks in between (all of them once that span is a full turn or more).
        let steps = min(target - processedTick, slotMask + 1)
        for step in 1...steps {
            var index = heads[Int((processedTick + step) & slotMask)]
            while index != Self.none {
                let next = entries[Int(index)].next
                if entries[Int(index)].due <= target {
                    let handle = Handle(index: index)
                    disarm(handle)
                    expired.append(handle)
                }
                index = next
            }
        }
        return expired
    }

    /// Disarms every entry without returning it (the wheel's owner is going away).
    public mutating func disarmAll() {
        for index in entries.indices where entries[index].due != Self.unarmed {
            disarm(Handle(index: Int32(index)))
        }
    }

    private static func start(of tick: Int64, _ length: Int64) -> NIODeadline {
        let (nanoseconds, overflow) = UInt64(tick).multipliedReportingOverflow(by: UInt64(length))
        return overflow ? .distantFuture : .uptimeNanoseconds(nanoseconds)
    }

    private static func tickAtOrBefore(_ time: NIODeadline, _ tick: Int64) -> Int64 {
        Int64(time.uptimeNanoseconds / UInt64(tick))
    }

    private static func tickAtOrAfter(_ time: NIODeadline, _ tick: Int64) -> Int64 {
        let nanoseconds = time.uptimeNanoseconds
        let whole = nanoseconds / UInt64(tick)
        return Int64(nanoseconds % UInt64(tick) == 0 ? whole : whole + 1)
    }
}
