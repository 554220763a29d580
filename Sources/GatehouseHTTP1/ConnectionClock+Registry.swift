import NIOCore
import Synchronization

/// Every event loop's clock, created on first use. Keyed by the loop's identity; a clock whose
/// loop is gone (a test's embedded loop) is dropped when the next new loop registers, so an
/// address reused by a new loop never finds the old loop's clock.
private let clocks = Mutex<[ObjectIdentifier: ConnectionClock]>([:])

extension ConnectionClock {
    /// The one clock of `eventLoop` (callable from any thread; the clock itself is used on the loop).
    public static func on(_ eventLoop: any EventLoop) -> ConnectionClock {
        let key = ObjectIdentifier(eventLoop)
        return clocks.withLock { clocks in
            if let clock = clocks[key], clock.eventLoop === eventLoop { return clock }
            clocks = clocks.filter { $0.value.eventLoop != nil }
            let clock = ConnectionClock(eventLoop: eventLoop)
            clocks[key] = clock
            return clock
        }
    }
}
