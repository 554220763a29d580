import GatehouseHTTP1
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// The HTTP/1.1 adapter's lingering close: a response that closes the connection before the request
/// body was read closes our direction only, drops what the client still sends, and closes when the
/// client has been quiet for `Lingering.idle` or after `Lingering.total` in all. Time is the
/// embedded loop's, advanced by hand.
@Suite struct HTTP1LingeringCloseTests {
    /// Records the closes and reads that reach the socket end of the pipeline. A half-close is
    /// recorded and not passed on (EmbeddedChannel has no socket to half-close).
    final class SocketEnd: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var closes: [CloseMode] = []
        var reads = 0

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            closes.append(mode)
            if mode == .output { promise?.succeed() } else { context.close(mode: mode, promise: promise) }
        }

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    private let stream = HTTPStreamID(1)

    private func channel() throws -> (EmbeddedChannel, SocketEnd) {
        let channel = EmbeddedChannel()
        let end = SocketEnd()
        try channel.pipeline.syncOperations.addHandler(end)
        try channel.pipeline.syncOperations.addHandler(HTTP1ServerAdapter())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, end)
    }

    /// A POST declaring `length` body bytes, of which only the head arrives.
    private func postHead(_ channel: EmbeddedChannel, length: Int = 100 << 20) throws {
        let head = HTTPRequestHead(
            version: .http1_1, method: .POST, uri: "/owa/upload",
            headers: HTTPHeaders([("Host", "mail.contoso.lab"), ("Content-Length", "\(length)")]))
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        _ = try channel.readInbound(as: TaggedRequestPart.self)
    }

    /// An early 413 with `Connection: close`, written in full.
    private func answer413(_ channel: EmbeddedChannel) throws {
        try answer(channel, .payloadTooLarge, close: true)
        while try channel.readOutbound(as: HTTPServerResponsePart.self) != nil {}
    }

    /// A whole empty response (head and end) to the stream, keep-alive unless `close`.
    private func answer(_ channel: EmbeddedChannel, _ status: HTTPResponseStatus, close: Bool = false) throws {
        var headers = HTTPHeaders([("Content-Length", "0")])
        if close { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        try channel.writeOutbound(TaggedResponsePart(stream: stream, part: .head(head)))
        try channel.writeOutbound(TaggedResponsePart(stream: stream, part: .end(nil)))
    }

    private func sendBody(_ channel: EmbeddedChannel) throws {
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(repeating: 0x78, count: 16384)))
    }

    @Test func anEarlyAnswerHalfClosesAndDropsTheRestOfTheBody() throws {
        let (channel, end) = try channel()
        try postHead(channel)
        try answer413(channel)
        #expect(end.closes == [.output], "only our direction closes at once")
        #expect(channel.isActive)
        let readsBefore = end.reads
        try sendBody(channel)
        #expect(try channel.readInbound(as: TaggedRequestPart.self) == nil, "the body is dropped, not forwarded")
        channel.read()
        #expect(end.reads == readsBefore + 1, "reads go on while lingering")
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        // The client goes quiet: closed once it has been quiet for Lingering.idle.
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(end.closes == [.output, .all])
        #expect(!channel.isActive)
    }

    @Test func dataKeepsItOpenUntilTheTotalBound() throws {
        let (channel, end) = try channel()
        try postHead(channel)
        try answer413(channel)
        for _ in 0..<7 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(4))
            #expect(channel.isActive)
            try sendBody(channel)
        }
        // 28 s of a client that never stops sending: cut at 30 s, not later.
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(end.closes == [.output, .all])
        #expect(!channel.isActive)
    }

    @Test func aResponseAfterTheWholeRequestClosesAtOnce() throws {
        let (channel, end) = try channel()
        try postHead(channel, length: 5)
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "hello")))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        while try channel.readInbound(as: TaggedRequestPart.self) != nil {}
        try answer413(channel)
        #expect(end.closes == [.all])
        #expect(!channel.isActive)
    }

    @Test func stopSendingAfterAKeepAliveAnswerLingersAndResetClosesAtOnce() throws {
        // A backend's early keep-alive answer: the proxy tells the client to stop sending.
        let (channel, end) = try channel()
        try postHead(channel)
        try answer(channel, .unauthorized)
        channel.pipeline.triggerUserOutboundEvent(StreamCommand.stopSending(stream), promise: nil)
        #expect(end.closes == [.output])
        try sendBody(channel)
        #expect(try channel.readInbound(as: TaggedRequestPart.self) == nil, "the body is dropped, not forwarded")
        // A failed exchange is aborted at once, lingering or not.
        channel.pipeline.triggerUserOutboundEvent(StreamCommand.reset(stream, errorCode: 2), promise: nil)
        #expect(end.closes == [.output, .all])
        #expect(!channel.isActive)
    }

    @Test func aKeepAliveResponseNeverLingers() throws {
        let (channel, end) = try channel()
        try postHead(channel)
        try answer(channel, .ok)
        #expect(end.closes.isEmpty)
        try sendBody(channel)
        #expect(try channel.readInbound(as: TaggedRequestPart.self) != nil, "the body still goes to the proxy")
        _ = try? channel.finish()
    }
}
