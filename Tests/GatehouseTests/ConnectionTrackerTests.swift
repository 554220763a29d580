import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import Gatehouse

/// `ConnectionTracker` on embedded channels: draining asks each open connection once to finish
/// (`ChannelShouldQuiesceEvent`), refuses new ones, completes when the last one closes, and
/// `closeAll` cuts what is left.
@Suite struct ConnectionTrackerTests {
    /// Counts the quiesce events a channel receives.
    final class QuiesceCounter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var count = 0
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { count += 1 }
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func channel(on loop: EmbeddedEventLoop) throws -> (EmbeddedChannel, QuiesceCounter) {
        let counter = QuiesceCounter()
        let channel = EmbeddedChannel(handler: counter, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, counter)
    }

    @Test func drainQuiescesEachConnectionOnceAndCompletesWhenTheLastCloses() throws {
        let loop = EmbeddedEventLoop()
        let tracker = ConnectionTracker()
        let (first, firstCounter) = try channel(on: loop)
        let (second, secondCounter) = try channel(on: loop)
        #expect(tracker.admit(first) && tracker.admit(second))
        #expect(tracker.openCount == 2)

        let drained = tracker.drain(on: loop)
        _ = tracker.drain(on: loop)  // a second drain (SIGTERM after a reload removed the listener)
        loop.run()
        #expect(firstCounter.count == 1 && secondCounter.count == 1)
        let done = NIOLockedValueBox(false)
        drained.whenSuccess { done.withLockedValue { $0 = true } }

        let (late, _) = try channel(on: loop)
        #expect(!tracker.admit(late))  // draining: the caller closes it

        try first.close().wait()
        loop.run()
        #expect(!done.withLockedValue { $0 } && tracker.openCount == 1)
        try second.close().wait()
        loop.run()
        #expect(done.withLockedValue { $0 } && tracker.openCount == 0)
    }

    @Test func closeAllCutsWhatIsLeftAndAnEmptyTrackerDrainsAtOnce() throws {
        let loop = EmbeddedEventLoop()
        let tracker = ConnectionTracker()
        let emptyDone = NIOLockedValueBox(false)
        ConnectionTracker().drain(on: loop).whenSuccess { emptyDone.withLockedValue { $0 = true } }
        #expect(emptyDone.withLockedValue { $0 })

        let (stuck, _) = try channel(on: loop)
        #expect(tracker.admit(stuck))
        let done = NIOLockedValueBox(false)
        tracker.drain(on: loop).whenSuccess { done.withLockedValue { $0 = true } }
        loop.run()
        #expect(!done.withLockedValue { $0 })
        tracker.closeAll()
        loop.run()
        #expect(done.withLockedValue { $0 } && !stuck.isActive)
    }

    @Test func anAdmittedConnectionReleasesItsCapPlaceWhenItClosesARefusedOneDoesNot() throws {
        let loop = EmbeddedEventLoop()
        let tracker = ConnectionTracker()
        let cap = ConnectionCap(limit: 10, key: "max_connections")
        let (open, _) = try channel(on: loop)
        #expect(cap.admit() == .admitted)
        #expect(tracker.admit(open, releasing: cap))
        #expect(cap.count == 1)
        try open.close().wait()
        loop.run()
        #expect(cap.count == 0 && tracker.openCount == 0)

        // Draining: refused, and the cap is the caller's to release (the tracker keeps nothing).
        _ = tracker.drain(on: loop)
        let (late, _) = try channel(on: loop)
        #expect(cap.admit() == .admitted)
        #expect(!tracker.admit(late, releasing: cap))
        cap.release()
        try late.close().wait()
        loop.run()
        #expect(cap.count == 0)
    }
}
