import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// The server pipeline Gatehouse builds: refused requests get 400/431/505 with Connection: close,
/// after the responses to earlier pipelined requests.
@Suite("HTTP1ProtocolErrorHandler")
struct HTTP1ProtocolErrorHandlerTests {
    /// Records requests and lets the test answer them.
    final class Application: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        var uris: [String] = []
        var errors: [Error] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = Self.unwrapInboundIn(data) { uris.append(head.uri) }
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { errors.append(error) }
    }

    /// A server pipeline as in Gatehouse: encoder, decoder, translator, NIO's pipeline handler, error handler, app.
    func makeChannel(limits: HTTP1RequestDecoder.Limits = .init(), seen: DecoderErrors? = nil) throws -> (EmbeddedChannel, Application) {
        let channel = EmbeddedChannel()
        let application = Application()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HTTP1ResponseEncoder())
        try sync.addHandler(ByteToMessageHandler(HTTP1RequestDecoder(limits: limits)))
        try sync.addHandler(HTTP1DecoderErrorTranslator(onError: { error in seen?.append(error) }))
        try sync.addHandler(HTTPServerPipelineHandler())
        try sync.addHandler(HTTP1ProtocolErrorHandler())
        try sync.addHandler(application)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        #expect(channel.isActive)
        return (channel, application)
    }

    /// Collects the errors the translator reports.
    final class DecoderErrors: @unchecked Sendable {  // only touched on the EmbeddedChannel's thread
        var errors: [HTTP1DecoderError] = []
        func append(_ error: HTTP1DecoderError) { errors.append(error) }
    }

    /// Everything written to the client so far, as text.
    func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test(
        "a malformed request gets 400 with Connection: close, and the connection closes",
        arguments: [
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400 Bad Request"),
            ("RPC_IN_DATA / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/2.0\r\n\r\n", "505 HTTP Version Not Supported"),
            ("GET / HTTP/1.1\r\nX-Big: \(String(repeating: "b", count: 70_000))\r\n\r\n", "431 Request Header Fields Too Large")
        ])
    func refused(request: String, status: String) throws {
        let seen = DecoderErrors()
        let (channel, application) = try makeChannel(seen: seen)
        _ = try? channel.writeInbound(ByteBuffer(string: request))
        let response = try written(channel)
        #expect(response.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(response)")
        #expect(response.lowercased().contains("connection: close\r\n"))
        #expect(response.lowercased().contains("content-length: 0\r\n"))
        #expect(!channel.isActive)
        #expect(application.uris.isEmpty)
        #expect(seen.errors.count == 1)
        #expect(application.errors.contains { $0 is HTTPParserError })
    }

    @Test("the error response waits for the response to an earlier pipelined request")
    func afterPipelinedResponse() throws {
        let (channel, application) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nBad Name: x\r\n\r\n"))
        #expect(application.uris == ["/first"])
        #expect(try written(channel).isEmpty)
        #expect(channel.isActive)
        let headers = HTTPHeaders([("Content-Length", "2")])
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "ok"))), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
        let text = try written(channel)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("\r\n\r\nokHTTP/1.1 400 Bad Request\r\n"), "\(text)")
        #expect(!channel.isActive)
    }

    @Test("no error response once a response is under way: the connection just closes")
    func midResponse() throws {
        let (channel, _) = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"))
        channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)), promise: nil)
        _ = try written(channel)
        _ = try? channel.writeInbound(ByteBuffer(string: "zz\r\n"))
        channel.close(promise: nil)  // what Gatehouse's ProxyHandler does on the error
        #expect(try written(channel).isEmpty)
    }
}
