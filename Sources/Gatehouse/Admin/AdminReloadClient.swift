import NIOCore
import NIOHTTP1
import NIOPosix

/// The client side of `POST /reload` on the admin endpoint, for `gatehouse reload`: one request
/// over NIO's HTTP/1.1 client codec, the status and body of the answer.
public enum AdminReloadClient {
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
    }

    /// Posts `/reload` to the admin endpoint at `host:port` and returns its answer.
    public static func post(host: String, port: Int, timeout: Duration = .seconds(60)) async throws -> Answer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let loop = group.next()
        let answer = loop.makePromise(of: Answer.self)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(AnswerCollector(answer: answer))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: host, port: port).get()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/reload", headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let deadline = loop.scheduleTask(in: TimeAmount(timeout)) {
            answer.fail(ChannelError.connectTimeout(TimeAmount(timeout)))
        }
        defer { deadline.cancel() }
        let result = try await answer.futureResult.get()
        try? await channel.close()
        return result
    }

    /// Gathers the response and completes the promise at its end (or fails it if the connection
    /// closes first).
    private final class AnswerCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let answer: EventLoopPromise<Answer>
        private var status = 0
        private var body = ""

        init(answer: EventLoopPromise<Answer>) {
            self.answer = answer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(let buffer): body += String(buffer: buffer)
            case .end: answer.succeed(Answer(status: status, body: body))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            answer.fail(ChannelError.ioOnClosedChannel)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            answer.fail(error)
            context.close(promise: nil)
        }
    }
}
