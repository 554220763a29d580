import GatehouseHTTP1
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// Issue #12: Gatehouse decides the framing of what it sends, both ways, for every method.
@Suite struct ProxyFramingTests {
    static let policy = RoutePolicy(poolIndex: 0, name: "mail/owa", idleTimeout: .seconds(120), maxBodyBytes: 1 << 30)

    static func router() throws -> ExchangeRouter {
        let table = try RoutingTable(services: [
            .init(name: "mail", hosts: ["mail.contoso.com"], routes: [.init(prefix: "/", id: 0)], redirectRootTo: nil)
        ])
        return ExchangeRouter(table: table, policies: [policy])
    }

    static let facts = ClientConnectionFacts(
        clientIP: IPAddress(ipv4: 0x0A00_0001), isTLS: false, serverName: nil,
        certificateCovers: { _ in true })

    private func decide(_ method: HTTPMethod, _ headers: [(String, String)]) throws -> ProxyDecision {
        var all = HTTPHeaders([("Host", "mail.contoso.com")])
        all.add(contentsOf: headers)
        return try Self.router().decide(
            head: HTTPRequestHead(version: .http1_1, method: method, uri: "/owa/x", headers: all),
            connection: Self.facts)
    }

    private func forwarded(_ method: HTTPMethod, _ headers: [(String, String)]) throws -> (HTTPHeaders, RequestBodyFraming)? {
        guard case .forward(_, let head, let framing) = try decide(method, headers) else { return nil }
        return (head.headers, framing)
    }

    @Test(arguments: [
        HTTPMethod.GET, .HEAD, .OPTIONS, .DELETE, .RAW(value: "PROPFIND"), .POST, .PUT, .PATCH,
        .RAW(value: "RPC_IN_DATA")
    ])
    func everyMethodKeepsItsChunkedFraming(method: HTTPMethod) throws {
        let (headers, framing) = try #require(try forwarded(method, [("Transfer-Encoding", "chunked")]))
        #expect(framing == .chunked)
        #expect(headers["transfer-encoding"] == ["chunked"])
        #expect(headers["content-length"].isEmpty)
    }

    @Test(arguments: [HTTPMethod.GET, .HEAD, .OPTIONS, .DELETE, .RAW(value: "PROPFIND"), .POST, .PUT])
    func everyMethodKeepsItsContentLength(method: HTTPMethod) throws {
        let (headers, framing) = try #require(try forwarded(method, [("Content-Length", "5")]))
        #expect(framing == .contentLength(5))
        #expect(headers["content-length"] == ["5"])
        #expect(headers["transfer-encoding"].isEmpty)
    }

    @Test func repeatedContentLengthIsForwardedOnceNormalised() throws {
        let (listed, _) = try #require(try forwarded(.POST, [("Content-Length", "5, 5")]))
        #expect(listed["content-length"] == ["5"])
        let (twoLines, _) = try #require(try forwarded(.POST, [("Content-Length", "5"), ("content-length", " 5")]))
        #expect(twoLines["content-length"] == ["5"])
    }

    @Test func aRequestWithoutFramingHasNoBody() throws {
        let (headers, framing) = try #require(try forwarded(.GET, []))
        #expect(framing == .none)
        #expect(headers["content-length"].isEmpty && headers["transfer-encoding"].isEmpty)
        #expect(RequestBodyFraming.none.allows(bodyBytes: 0))
        #expect(!RequestBodyFraming.none.allows(bodyBytes: 1))
        #expect(RequestBodyFraming.contentLength(5).allows(bodyBytes: 5))
        #expect(!RequestBodyFraming.contentLength(5).allows(bodyBytes: 6))
    }

    @Test(arguments: [HTTPMethod.TRACE, .CONNECT])
    func traceAndConnectAreNeverForwarded(method: HTTPMethod) throws {
        guard case .respond(let local) = try decide(method, [("Content-Length", "3")]) else {
            Issue.record("\(method) was forwarded")
            return
        }
        #expect(local.status == .methodNotAllowed)
    }

    @Test func bothFramingHeadersAreRefused() throws {
        guard case .respond(let local) = try decide(.GET, [("Content-Length", "3"), ("Transfer-Encoding", "chunked")]) else {
            Issue.record("forwarded")
            return
        }
        #expect(local.status == .badRequest)
    }

    // MARK: responses

    private func response(_ status: HTTPResponseStatus, _ headers: [(String, String)]) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers))
    }

    @Test func aHeadResponseWithoutLengthGetsNoChunkedFraming() {
        var head = response(.ok, [("Content-Type", "text/html")])
        #expect(HTTP1ServerAdapter.frame(&head, requestMethod: .HEAD, requestVersion: .http1_1) == .none)
        #expect(head.headers["transfer-encoding"].isEmpty)
        var withLength = response(.ok, [("Content-Length", "100000")])
        #expect(HTTP1ServerAdapter.frame(&withLength, requestMethod: .HEAD, requestVersion: .http1_1) == .none)
        #expect(withLength.headers["content-length"] == ["100000"])
    }

    @Test func responseFramingByStatusLengthAndVersion() {
        var noContent = response(.noContent, [("Content-Length", "0")])
        #expect(HTTP1ServerAdapter.frame(&noContent, requestMethod: .GET, requestVersion: .http1_1) == .none)
        #expect(noContent.headers["content-length"].isEmpty)
        var notModified = response(.notModified, [])
        #expect(HTTP1ServerAdapter.frame(&notModified, requestMethod: .GET, requestVersion: .http1_1) == .none)
        var sized = response(.ok, [("Content-Length", "3")])
        #expect(HTTP1ServerAdapter.frame(&sized, requestMethod: .GET, requestVersion: .http1_1) == .contentLength)
        var streamed = response(.ok, [])
        #expect(HTTP1ServerAdapter.frame(&streamed, requestMethod: .GET, requestVersion: .http1_1) == .chunked)
        #expect(streamed.headers["transfer-encoding"] == ["chunked"])
        var old = response(.ok, [])
        #expect(HTTP1ServerAdapter.frame(&old, requestMethod: .GET, requestVersion: .http1_0) == .untilClose)
        #expect(old.headers["transfer-encoding"].isEmpty)
    }

    @Test func onlyResponsesThatSayWhereTheyEndLeaveAReusableConnection() {
        func known(_ status: HTTPResponseStatus, _ headers: [(String, String)], _ method: HTTPMethod = .GET) -> Bool {
            ProxiedRequest.responseFramingIsKnown(response(status, headers), requestMethod: method)
        }
        #expect(known(.ok, [("Content-Length", "3")]))
        #expect(known(.ok, [("Transfer-Encoding", "chunked")]))
        #expect(known(.ok, [], .HEAD))
        #expect(known(.noContent, []))
        #expect(known(.notModified, []))
        #expect(!known(.ok, []))  // until close
        #expect(!known(.ok, [("Transfer-Encoding", "gzip")]))
        #expect(!known(.ok, [("Transfer-Encoding", "chunked"), ("Content-Length", "3")]))
        #expect(!known(.ok, [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")]))
    }

    // MARK: the HTTP/1.1 adapter

    private func adapterChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP1ServerAdapter())
        return channel
    }

    private func requestHead(_ uri: String, _ headers: [(String, String)] = []) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers)))
    }

    private func uris(_ channel: EmbeddedChannel) throws -> [String] {
        var seen: [String] = []
        while let part = try channel.readInbound(as: TaggedRequestPart.self) {
            if case .head(let head) = part.part { seen.append(head.uri) }
        }
        return seen
    }

    @Test func nothingPipelinedAfterConnectionCloseIsForwarded() throws {
        let channel = try adapterChannel()
        try channel.writeInbound(requestHead("/a", [("Connection", "close")]))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        try channel.writeInbound(requestHead("/b"))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try uris(channel) == ["/a"])
        _ = try? channel.finish()
    }

    @Test func nothingAfterAResponseThatClosesIsForwarded() throws {
        let channel = try adapterChannel()
        try channel.writeInbound(requestHead("/a"))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try uris(channel) == ["/a"])
        let closing = HTTPResponseHead(
            version: .http1_1, status: .ok,
            headers: HTTPHeaders([("Connection", "close"), ("Content-Length", "0")]))
        try channel.writeOutbound(TaggedResponsePart(stream: HTTPStreamID(1), part: .head(closing)))
        try channel.writeInbound(requestHead("/b"))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try uris(channel) == [])
        _ = try? channel.finish()
    }

    @Test func aHeadResponseBodyIsNeverWritten() throws {
        let channel = try adapterChannel()
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/x")))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        _ = try uris(channel)
        let stream = HTTPStreamID(1)
        try channel.writeOutbound(TaggedResponsePart(stream: stream, part: .head(response(.ok, [("Content-Type", "text/plain")]))))
        try channel.writeOutbound(TaggedResponsePart(stream: stream, part: .body(.byteBuffer(ByteBuffer(string: "oops")))))
        try channel.writeOutbound(TaggedResponsePart(stream: stream, part: .end(nil)))
        var parts: [HTTPServerResponsePart] = []
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) { parts.append(part) }
        #expect(parts.count == 2)
        if case .head(let head) = parts.first { #expect(head.headers["transfer-encoding"].isEmpty) }
        if case .end = parts.last {} else { Issue.record("expected the end last, got \(parts)") }
        _ = try? channel.finish()
    }

    @Test func aPipelinedRequestStartsOnlyAfterThePreviousOneFinished() throws {
        // HTTPServerPipelineHandler hands the next request over from inside the previous response's
        // end write; the adapter holds it until the next loop tick, when that request is done.
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPServerPipelineHandler())
        try channel.pipeline.syncOperations.addHandler(HTTP1ServerAdapter())
        try channel.writeInbound(requestHead("/a"))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        try channel.writeInbound(requestHead("/b"))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(try uris(channel) == ["/a"])
        let stream = HTTPStreamID(1)
        try channel.writeOutbound(TaggedResponsePart(stream: stream, part: .head(response(.ok, [("Content-Length", "0")]))))
        try channel.writeOutbound(TaggedResponsePart(stream: stream, part: .end(nil)))
        #expect(try uris(channel) == [], "the next request started inside the previous one's end")
        channel.embeddedEventLoop.run()
        #expect(try uris(channel) == ["/b"])
        _ = try? channel.finish()
    }
}
