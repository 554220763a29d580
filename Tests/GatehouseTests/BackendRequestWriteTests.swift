import NIOCore
import NIOEmbedded
import Testing

@testable import Gatehouse

/// Request parts reach the backend through `BackendConnection.write`, which also tells the response
/// decoder of each request head (the decoder no longer observes the pipeline's writes). The decoder
/// must know a HEAD request, or it would wait for the body its response's Content-Length announces
/// (and a response with no head recorded at all is refused as unsolicited).
@Suite struct BackendRequestWriteTests {
    private static let host = "Host: mail.contoso.com\r\n"

    @Test func aHeadResponseEndsAtItsHeadAndTheConnectionServesTheNextRequest() throws {
        let h = try ProxyBackendInMemoryTests.Harness()
        try h.send("HEAD /owa/ HTTP/1.1\r\n\(Self.host)\r\n")
        let backend = try h.backend()
        #expect(try h.written(backend).hasPrefix("HEAD /owa/ HTTP/1.1\r\n"))
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        let head = try h.written(h.client)
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n") && head.lowercased().contains("content-length: 5\r\n"), "\(head)")
        #expect(head.hasSuffix("\r\n\r\n"), "no body after a HEAD response: \(head)")

        // The response was complete without a body: the same backend connection takes the next
        // request, and its answer is read as that request's, not as the HEAD response's body.
        try h.send("GET /owa/ HTTP/1.1\r\n\(Self.host)\r\n")
        #expect(try h.written(backend).hasPrefix("GET /owa/ HTTP/1.1\r\n"))
        try h.answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(h.backends.channels.count == 1)
        #expect(try h.written(h.client).hasSuffix("\r\n\r\nhello"))
    }

    @Test func aWriteAfterThePipelineIsGoneFailsAsOnAClosedChannel() throws {
        let channel = EmbeddedChannel()
        let connection = BackendConnection(
            channel: channel, server: BackendServer(name: "b", host: "127.0.0.1", port: 1, tlsName: "b"))
        // No pipeline was installed: there is no handler to write from.
        let promise = channel.eventLoop.makePromise(of: Void.self)
        connection.write(.end(nil), promise: promise)
        #expect(throws: ChannelError.ioOnClosedChannel) { try promise.futureResult.wait() }
    }
}
