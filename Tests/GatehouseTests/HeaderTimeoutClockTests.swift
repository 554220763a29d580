import GatehouseHTTP1
import NIOCore
import NIOEmbedded
import Testing

@testable import Gatehouse

/// `HeaderTimeoutHandler` on its loop's `ConnectionClock`: one entry per connection for its
/// lifetime, moved by each event, and a close at most one tick (100 ms) after the deadline.
@Suite struct HeaderTimeoutClockTests {
    static func at(_ seconds: Double) -> NIODeadline { .uptimeNanoseconds(UInt64((seconds * 1e9).rounded())) }

    /// A connected channel with the handler (header timeout 2 s, idle timeout as given) on `loop`.
    static func connection(on loop: EmbeddedEventLoop, idle: TimeAmount = .seconds(4)) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: HeaderTimeoutHandler(timeout: .seconds(2), idleTimeout: idle), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        return channel
    }

    @Test func connectionsOfOneLoopShareItsClockWithOneEntryEach() throws {
        let loop = EmbeddedEventLoop()
        let clock = ConnectionClock.on(loop)
        let channels = try (0..<50).map { _ in try Self.connection(on: loop) }
        #expect(clock.entryCount == 50 && clock.armedCount == 50 && clock.isTicking)
        // Bytes of a head move the entry to the header deadline; they add nothing.
        try channels[0].writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        #expect(clock.entryCount == 50 && clock.armedCount == 50)
        for channel in channels[40...] { _ = try channel.close().wait() }
        loop.run()
        #expect(clock.entryCount == 40)
        loop.advanceTime(to: Self.at(2))
        #expect(!channels[0].isActive, "client_header_timeout from the first byte")
        #expect(channels[1].isActive)
        loop.advanceTime(to: Self.at(4))
        loop.run()
        #expect(channels.allSatisfy { !$0.isActive })
        #expect(clock.entryCount == 0 && !clock.isTicking, "nothing is left on the loop")
    }

    @Test func aDeadlineBetweenTicksClosesAtTheNextTickNeverBefore() throws {
        let loop = EmbeddedEventLoop()
        loop.advanceTime(to: Self.at(0.05))
        let channel = try Self.connection(on: loop, idle: .seconds(1))
        loop.advanceTime(to: Self.at(1.05))
        #expect(channel.isActive, "idle for 1 s, but its tick (1.0-1.1 s) is not over")
        loop.advanceTime(to: Self.at(1.099))
        #expect(channel.isActive)
        loop.advanceTime(to: Self.at(1.1))
        #expect(!channel.isActive, "closed 50 ms after the deadline: less than one tick late")
    }
}
