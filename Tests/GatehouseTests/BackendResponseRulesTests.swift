import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// Stands for the request using a backend connection (the decoder reads only while one is attached).
private final class AttachedRequest: BackendConnectionDelegate {
    func backendDidReceive(_ part: HTTPClientResponsePart, on connection: BackendConnection) {}
    func backendReadComplete(on connection: BackendConnection) {}
    func backendWritabilityChanged(on connection: BackendConnection) {}
    func backendDidFail(_ error: Error, on connection: BackendConnection) {}
}

/// What a backend's response heads may not do (issue #17 item 6, hostile backends): the rules, and
/// the header-field cap as the backend connection's decoder applies it.
@Suite struct BackendResponseRulesTests {
    /// Held here: `BackendConnection.delegate` is weak.
    private let request = AttachedRequest()

    private func head(_ code: UInt, _ headers: [(String, String)] = []) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: Int(code)), headers: HTTPHeaders(headers))
    }

    @Test func onlyChunkedAloneIsAcceptedAsATransferCoding() {
        #expect(BackendResponseRules.refusal(of: head(200), interimSoFar: 0) == nil)
        #expect(BackendResponseRules.refusal(of: head(200, [("Content-Length", "5")]), interimSoFar: 0) == nil)
        #expect(BackendResponseRules.refusal(of: head(200, [("Transfer-Encoding", "chunked")]), interimSoFar: 0) == nil)
        #expect(BackendResponseRules.refusal(of: head(200, [("transfer-encoding", " Chunked ")]), interimSoFar: 0) == nil)
        for values in [["gzip"], ["gzip, chunked"], ["chunked, gzip"], ["identity"], ["chunked", "chunked"], [""]] {
            let refused = BackendResponseRules.refusal(
                of: head(200, values.map { ("Transfer-Encoding", $0) }), interimSoFar: 0)
            #expect(refused != nil, "Transfer-Encoding \(values) was accepted")
        }
    }

    @Test func interimResponsesAreCappedPerRequest() {
        let limit = BackendResponseRules.maxInterimResponses
        #expect(BackendResponseRules.refusal(of: head(100), interimSoFar: limit - 1) == nil)
        #expect(BackendResponseRules.refusal(of: head(103), interimSoFar: limit) != nil)
        // The final head and a 101 (refused by the request's state machine) are not interim.
        #expect(BackendResponseRules.refusal(of: head(200), interimSoFar: limit) == nil)
        #expect(BackendResponseRules.refusal(of: head(101), interimSoFar: limit) == nil)
    }

    /// The backend connection's decoder, with the request head it answers already written, and the
    /// connection (held by the caller: the decoder's reference to it is weak).
    private func decoderChannel() throws -> (EmbeddedChannel, BackendConnection) {
        let channel = EmbeddedChannel()
        let connection = BackendConnection(
            channel: channel,
            server: BackendServer(
                name: "rb", host: "127.0.0.1", port: 1, tlsName: "rb.contoso.lab"))
        connection.delegate = request
        let decoder = BackendResponseDecoder(connection: connection)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
        decoder.requestHeadWritten(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
        return (channel, connection)
    }

    @Test func aResponseWithMoreHeaderFieldsThanTheCapIsAnError() throws {
        let fields = (0..<BackendResponseRules.maxHeaderFields + 1).map { "X-Flood-\($0): v\r\n" }.joined()
        let (channel, connection) = try decoderChannel()
        defer { withExtendedLifetime(connection) {} }
        #expect(throws: HTTPParserError.headerOverflow) {
            try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\(fields)Content-Length: 0\r\n\r\n"))
        }
        _ = try? channel.finish()
    }

    @Test func aResponseWithinTheCapDecodes() throws {
        let fields = (0..<BackendResponseRules.maxHeaderFields - 1).map { "X-Many-\($0): v\r\n" }.joined()
        let (channel, connection) = try decoderChannel()
        defer { withExtendedLifetime(connection) {} }
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\(fields)Content-Length: 0\r\n\r\n"))
        guard case .head(let head) = try channel.readInbound(as: HTTPClientResponsePart.self) else {
            Issue.record("no head")
            return
        }
        #expect(head.headers.count == BackendResponseRules.maxHeaderFields)  // with Content-Length
        _ = try? channel.finish()
    }
}

/// `BackendResponseDecoder`'s rule that a backend connection carries nothing after a response's
/// end, including bytes the parser takes in without keeping them.
@Suite struct BackendResponseLeftoverTests {
    /// Lets go of the connection at the response's end, as `ProxiedRequest` does.
    private final class Release: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias InboundOut = HTTPClientResponsePart
        let connection: BackendConnection
        init(_ connection: BackendConnection) { self.connection = connection }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .end = unwrapInboundIn(data) { connection.delegate = nil }
            context.fireChannelRead(data)
        }
    }

    /// Decodes `response` (after one GET) in one read; the error it raised, if any.
    private func decode(_ response: String) throws -> (any Error)? {
        let channel = EmbeddedChannel()
        let connection = BackendConnection(
            channel: channel,
            server: BackendServer(
                name: "rb", host: "127.0.0.1", port: 1, tlsName: "rb.contoso.lab"))
        let request = AttachedRequest()
        connection.delegate = request
        let decoder = BackendResponseDecoder(connection: connection)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
        try channel.pipeline.syncOperations.addHandler(Release(connection))
        decoder.requestHeadWritten(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
        defer { _ = try? channel.finish() }
        do {
            try channel.writeInbound(ByteBuffer(string: response))
            return nil
        } catch {
            return error
        }
    }

    @Test func aResponseEndingWithItsReadLeavesTheConnectionUsable() throws {
        #expect(try decode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") == nil)
        #expect(try decode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n") == nil)
        #expect(try decode("HTTP/1.1 204 No Content\r\n\r\n") == nil)
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK", "HTT", "\r\nHTTP/1.1 2",
        "HTTP/1.1 200 OK\r\nX-Poison: yes\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    ])
    func bytesAfterTheEndFailTheConnection(_ after: String) throws {
        let error = try decode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + after)
        #expect(error != nil, "\(after.debugDescription) after the response's end was accepted")
    }
}
