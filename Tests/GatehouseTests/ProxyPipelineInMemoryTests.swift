import GatehouseHTTP1
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// The client side of the proxy in memory: the HTTP/1.1 codec, `HTTP1ServerAdapter` and
/// `ProxyHandler` on an `EmbeddedChannel`, with a router that answers every request itself, so
/// `ProxiedRequest`, its state machine and `HTTP1ClientStream` run without sockets or backends.
@Suite struct ProxyPipelineInMemoryTests {
    /// Answers each request with 200 and a body naming its target; `/deny` gets 403.
    private struct EchoRouter: ProxyRouter {
        func decide(head: HTTPRequestHead, framing: RequestFraming.Parsed, connection: ClientConnectionFacts) -> ProxyDecision {
            if head.uri == "/deny" { return .respond(LocalResponse(status: .forbidden, reason: "test deny")) }
            return .respond(LocalResponse(status: .ok, body: "target=\(head.uri)\n", reason: "test echo"))
        }

        func clientResponseHead(_ head: HTTPResponseHead, policy: RoutePolicy) -> HTTPResponseHead { head }
    }

    private func proxyChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let environment = ProxyEnvironment(
            router: EchoRouter(), pools: LoopPoolSet(pools: [], group: channel.embeddedEventLoop),
            logger: Logger(label: "test"), accessLog: nil)
        let facts = ClientConnectionFacts(clientIP: nil, isTLS: true, serverName: nil, certificateCovers: { _ in true })
        let sync = channel.pipeline.syncOperations
        try ClientPipeline.addHTTP1Codec(to: sync, limits: ClientLimits(), answersErrors: false)
        try sync.addHandler(HTTP1ServerAdapter())
        try sync.addHandler(ProxyHandler(environment: environment, facts: facts, clientProtocol: .http1))
        // Active, as an accepted connection is.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        #expect(channel.isActive)
        return channel
    }

    /// Everything the proxy wrote to the client so far, as text.
    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let channel = try proxyChannel()
        let requests =
            "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n"
            + "GET /three HTTP/1.1\r\nHost: a\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: requests))
        // Requests that arrive while a response end is written start on the next tick.
        channel.embeddedEventLoop.run()
        let text = try written(channel)
        let one = try #require(text.range(of: "target=/one"))
        let two = try #require(text.range(of: "target=/two"))
        let three = try #require(text.range(of: "target=/three"))
        #expect(one.lowerBound < two.lowerBound && two.lowerBound < three.lowerBound)
        #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 4)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func aLocalAnswerWithAnUnreadBodyClosesTheConnection() throws {
        let channel = try proxyChannel()
        try channel.writeInbound(ByteBuffer(string: "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"))
        channel.embeddedEventLoop.run()
        let text = try written(channel)
        #expect(text.hasPrefix("HTTP/1.1 403 Forbidden"))
        #expect(text.lowercased().contains("connection: close"))
        #expect(!channel.isActive)
    }
}
