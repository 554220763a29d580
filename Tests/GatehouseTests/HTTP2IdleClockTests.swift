import GatehouseHTTP1
import GatehouseHTTP2
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// The HTTP/2 connection's one idle clock (`client_idle_timeout`): with no stream open for that
/// long, `HTTP2ServerHandler` sends GOAWAY(NO_ERROR, last stream) and then closes; an open stream
/// (a long poll) holds it off. Time is the embedded loop's, advanced by the test.
@Suite struct HTTP2IdleClockTests {
    /// One frame as read from the server's bytes.
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
        var payload: [UInt8]
    }

    private func channel(
        idle: TimeAmount, header: TimeAmount = .seconds(30), loop: EmbeddedEventLoop = EmbeddedEventLoop()
    ) throws -> EmbeddedChannel {
        var settings = HTTP2Settings()
        settings.idleTimeout = idle
        settings.headerTimeout = header
        let channel = EmbeddedChannel(handler: HTTP2ServerHandler(settings: settings), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try channel.writeInbound(ByteBuffer(bytes: HTTP2FrameBytes.clientStart))
        _ = try frames(channel)
        return channel
    }

    /// Every frame the server wrote since the last call.
    private func frames(_ channel: EmbeddedChannel) throws -> [Frame] {
        var bytes: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        var result: [Frame] = []
        var index = 0
        while index + 9 <= bytes.count {
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            let stream = bytes[index + 5..<index + 9].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
            let payload = Array(bytes[index + 9..<min(bytes.count, index + 9 + length)])
            result.append(Frame(type: bytes[index + 3], flags: bytes[index + 4], stream: stream, payload: payload))
            index += 9 + length
        }
        return result
    }

    /// (last stream id, error code) of the GOAWAY among `frames`, if any.
    private func goaway(_ frames: [Frame]) -> (lastStream: UInt32, code: UInt32)? {
        guard let frame = frames.first(where: { $0.type == 0x7 }), frame.payload.count >= 8 else { return nil }
        let last = frame.payload[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
        let code = frame.payload[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (last, code)
    }

    /// `after` later, the connection has sent no GOAWAY and is still open.
    private func expectOpen(_ channel: EmbeddedChannel, after time: TimeAmount) throws {
        channel.embeddedEventLoop.advanceTime(by: time)
        #expect(goaway(try frames(channel)) == nil)
        #expect(channel.isActive)
    }

    @Test func anIdleConnectionGetsGoawayNoErrorThenCloses() throws {
        let channel = try channel(idle: .seconds(5))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4_999))
        #expect(goaway(try frames(channel)) == nil)
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let sent = try #require(goaway(try frames(channel)))
        #expect(sent.lastStream == 0 && sent.code == 0)
        #expect(!channel.isActive)
    }

    @Test func anOpenStreamHoldsTheClockOffAndTheGoawayNamesTheLastStream() throws {
        let channel = try channel(idle: .seconds(5))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        // GET / on stream 1 (HPACK static entries: :method GET, :scheme https, :path /; :authority a).
        let block: [UInt8] = [0x82, 0x87, 0x84, 0x41, 0x01, 0x61]
        try channel.writeInbound(ByteBuffer(bytes: HTTP2FrameBytes.frame(type: 0x1, flags: 0x5, stream: 1, payload: block)))
        let head = try #require(try channel.readInbound(as: TaggedRequestPart.self))
        #expect(head.stream == HTTPStreamID(1))
        // Unanswered, like a long poll: well past the idle timeout, the connection stays.
        try expectOpen(channel, after: .seconds(30))
        // Answered: the idle time counts from the stream's end.
        let response = HTTPResponseHead(version: .http2, status: .noContent)
        try channel.writeOutbound(TaggedResponsePart(stream: HTTPStreamID(1), part: .head(response)))
        try channel.writeOutbound(TaggedResponsePart(stream: HTTPStreamID(1), part: .end(nil)))
        channel.flush()
        #expect(try frames(channel).contains { $0.type == 0x1 && $0.stream == 1 })
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4_900))
        #expect(goaway(try frames(channel)) == nil)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        let sent = try #require(goaway(try frames(channel)))
        #expect(sent.lastStream == 1 && sent.code == 0)
        #expect(!channel.isActive)
    }

    @Test func theIdleDeadlineIsAnEntryOnTheLoopsClockNotATaskPerConnection() throws {
        let loop = EmbeddedEventLoop()
        let clock = ConnectionClock.on(loop)
        let channels = try (0..<3).map { _ in try channel(idle: .seconds(5), loop: loop) }
        #expect(clock.entryCount == 3 && clock.armedCount == 3)
        // A stream opened takes its connection's deadline off the clock; it stays an entry.
        let block: [UInt8] = [0x82, 0x87, 0x84, 0x41, 0x01, 0x61]
        try channels[0].writeInbound(ByteBuffer(bytes: HTTP2FrameBytes.frame(type: 0x1, flags: 0x5, stream: 1, payload: block)))
        #expect(clock.entryCount == 3 && clock.armedCount == 2)
        _ = try channels[1].close().wait()
        loop.run()
        #expect(clock.entryCount == 2)
        loop.advanceTime(by: .seconds(5))
        loop.run()
        #expect(channels[0].isActive, "a stream is open")
        #expect(!channels[2].isActive, "idle: GOAWAY and closed")
        #expect(clock.entryCount == 1 && clock.armedCount == 0 && !clock.isTicking)
    }

    // MARK: the header clock

    /// GET / on stream 1 split in two: HEADERS without END_HEADERS, and the CONTINUATION that ends it.
    private let firstHalf: [UInt8] = [0x82, 0x87]
    private let secondHalf: [UInt8] = [0x84, 0x41, 0x01, 0x61]

    @Test func aHeaderBlockThatNeverEndsIsCutAtTheHeaderTimeout() throws {
        let channel = try channel(idle: .seconds(120), header: .seconds(10))
        // END_STREAM, no END_HEADERS: the stream is open, so the idle clock does not run.
        try channel.writeInbound(ByteBuffer(bytes: HTTP2FrameBytes.frame(type: 0x1, flags: 0x1, stream: 1, payload: firstHalf)))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(9_999))
        #expect(goaway(try frames(channel)) == nil)
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let sent = try #require(goaway(try frames(channel)))
        #expect(sent.code == 0)
        #expect(!channel.isActive)
        #expect(try channel.readInbound(as: TaggedRequestPart.self) == nil, "the incomplete request never reached the proxy")
    }

    @Test func aHeaderBlockThatEndsInTimeLeavesItsStreamAlone() throws {
        let channel = try channel(idle: .seconds(5), header: .seconds(10))
        try channel.writeInbound(ByteBuffer(bytes: HTTP2FrameBytes.frame(type: 0x1, flags: 0x1, stream: 1, payload: firstHalf)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try channel.writeInbound(ByteBuffer(bytes: HTTP2FrameBytes.frame(type: 0x9, flags: 0x4, stream: 1, payload: secondHalf)))
        let head = try #require(try channel.readInbound(as: TaggedRequestPart.self))
        #expect(head.stream == HTTPStreamID(1))
        // The request is complete and unanswered (a long poll): neither clock cuts it.
        try expectOpen(channel, after: .seconds(60))
        _ = try? channel.finish()
    }
}
