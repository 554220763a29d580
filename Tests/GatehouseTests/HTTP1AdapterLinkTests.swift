import GatehouseHTTP1
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// `ProxyHandler.link(to:)` with an HTTP/1.1 adapter: the adapter and the proxy behind it pass request and response parts
/// by direct calls (`ClientPipeline.addHTTP1`). Linked or not, the client sees the same bytes; the
/// link ends when either leaves the pipeline, and a response written after that fails as on a
/// closed channel.
@Suite struct HTTP1AdapterLinkTests {
    /// Answers every request itself: 200 with a body, or 403 for `/deny`.
    private struct LocalRouter: ProxyRouter {
        func decide(head: HTTPRequestHead, framing: RequestFraming.Parsed, connection: ClientConnectionFacts) -> ProxyDecision {
            if head.uri == "/deny" { return .respond(LocalResponse(status: .forbidden, reason: "test deny")) }
            return .respond(LocalResponse(status: .ok, body: "hello \(head.uri)\n", reason: "test"))
        }

        func clientResponseHead(_ head: HTTPResponseHead, policy: RoutePolicy) -> HTTPResponseHead { head }
    }

    /// The HTTP/1.1 codec, the adapter and a proxy answering every request locally.
    private func pipeline(linked: Bool) throws -> (EmbeddedChannel, HTTP1ServerAdapter, ProxyHandler) {
        let channel = EmbeddedChannel()
        let environment = ProxyEnvironment(
            router: LocalRouter(), pools: LoopPoolSet(pools: [], group: channel.embeddedEventLoop),
            logger: Logger(label: "test"), accessLog: nil)
        let facts = ClientConnectionFacts(clientIP: nil, isTLS: true, serverName: nil, certificateCovers: { _ in true })
        let sync = channel.pipeline.syncOperations
        try ClientPipeline.addHTTP1Codec(to: sync, limits: ClientLimits(), answersErrors: false)
        let adapter = HTTP1ServerAdapter()
        let proxy = ProxyHandler(environment: environment, facts: facts, clientProtocol: .http1)
        try sync.addHandler(adapter)
        try sync.addHandler(proxy)
        if linked { proxy.link(to: adapter) }
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        return (channel, adapter, proxy)
    }

    private func exchange(linked: Bool) throws -> String {
        let (channel, _, _) = try pipeline(linked: linked)
        defer { _ = try? channel.finish() }
        try channel.writeInbound(
            ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /deny HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"))
        channel.embeddedEventLoop.run()
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }

    @Test func linkedOrNotTheClientGetsTheSameResponsesInOrder() throws {
        let linked = try exchange(linked: true)
        #expect(linked.components(separatedBy: "HTTP/1.1 ").count == 4, "three responses: \(linked)")
        let a = try #require(linked.range(of: "hello /a"))
        let deny = try #require(linked.range(of: "HTTP/1.1 403"))
        let b = try #require(linked.range(of: "hello /b"))
        #expect(a.upperBound <= deny.lowerBound && deny.upperBound <= b.lowerBound)
        #expect(linked == (try exchange(linked: false)))
    }

    /// Everything the channel wrote, as text, after `input` and the loop's pending work.
    private func answer(to input: String) throws -> (String, EmbeddedChannel) {
        let (channel, _, _) = try pipeline(linked: true)
        _ = try? channel.writeInbound(ByteBuffer(string: input))  // the decoder error reaches the tail too
        channel.embeddedEventLoop.run()
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return (text, channel)
    }

    /// The adapter answers what the decoder refuses (no `HTTP1ProtocolErrorHandler` on proxy
    /// connections): one response, the right status, `Connection: close`, then the close; behind
    /// an earlier pipelined request, after that request's response.
    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost a\r\n\r\n", "400 Bad Request"),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 70_000) + "\r\n\r\n", "431 Request Header Fields Too Large"),
        ("GET / HTTP/2.1\r\nHost: a\r\n\r\n", "505 HTTP Version Not Supported"),
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "400 Bad Request")
    ])
    func refusedRequestsAreAnsweredOnceAndClose(input: String, status: String) throws {
        let (text, channel) = try answer(to: input)
        #expect(text.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(text.prefix(200))")
        #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "exactly one response: \(text.prefix(300))")
        #expect(text.lowercased().contains("connection: close\r\n"))
        #expect(!channel.isActive, "closed once the answer is written")
    }

    @Test func aRefusedRequestBehindAGoodOneIsAnsweredAfterItsResponse() throws {
        let (text, channel) = try answer(to: "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost a\r\n\r\n")
        let good = try #require(text.range(of: "hello /a"))
        let refused = try #require(text.range(of: "HTTP/1.1 400 Bad Request"))
        #expect(good.upperBound <= refused.lowerBound, "\(text)")
        #expect(text.components(separatedBy: "HTTP/1.1 ").count == 3)
        #expect(!channel.isActive)
    }

    @Test func theLinkEndsWhenThePipelineGoesAndALateResponseFails() throws {
        let (channel, adapter, proxy) = try pipeline(linked: true)
        #expect(adapter.receiver === proxy && proxy.front === adapter)
        _ = try channel.finish()
        #expect(adapter.receiver == nil && proxy.front == nil, "no reference cycle left")
        let promise = channel.eventLoop.makePromise(of: Void.self)
        adapter.writeResponse(.end(nil), stream: HTTPStreamID(1), promise: promise)
        #expect(throws: ChannelError.ioOnClosedChannel) { try promise.futureResult.wait() }
    }
}
