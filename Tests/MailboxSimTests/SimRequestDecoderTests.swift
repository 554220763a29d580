import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import MailboxSimCore

/// The simulator's own HTTP/1.1 request parser: Exchange methods, header fidelity, framing, errors.
@Suite("SimRequestDecoder")
struct SimRequestDecoderTests {
    /// Feeds `chunks` one by one and returns every part produced.
    func decode(_ chunks: [String]) throws -> [HTTPServerRequestPart] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SimRequestDecoder()))
        var parts: [HTTPServerRequestPart] = []
        for chunk in chunks {
            try channel.writeInbound(ByteBuffer(string: chunk))
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        }
        _ = try? channel.finish()
        return parts
    }

    /// The concatenated body bytes among `parts`.
    func body(_ parts: [HTTPServerRequestPart]) -> String {
        parts.compactMap { if case .body(let buffer) = $0 { return String(buffer: buffer) } else { return nil } }.joined()
    }

    @Test("RPC_IN_DATA (which llhttp rejects) parses, with its Content-Length body streamed in pieces")
    func rpcInData() throws {
        let parts = try decode(["RPC_IN_DATA /rpc/rpcproxy.dll?mbx01:6001 HTTP/1.1\r\nHost: mbx01\r\nContent-Length: 10\r\n\r\n01234",
                                "56789"])
        guard case .head(let head) = parts.first else { Issue.record("no head"); return }
        #expect(head.method.rawValue == "RPC_IN_DATA")
        #expect(head.uri == "/rpc/rpcproxy.dll?mbx01:6001")
        #expect(body(parts) == "0123456789")
        #expect(parts.count == 4)
        if case .end = parts.last {} else { Issue.record("no end part") }
    }

    @Test("header names keep their case and order; duplicates are kept")
    func headerFidelity() throws {
        let parts = try decode(["GET /x HTTP/1.1\r\nhost: a\r\nX-AnchorMailbox: u@c\r\nx-dup: 1\r\nX-DUP: 2\r\n\r\n"])
        guard case .head(let head) = parts.first else { Issue.record("no head"); return }
        #expect(head.headers.map(\.name) == ["host", "X-AnchorMailbox", "x-dup", "X-DUP"])
        #expect(head.headers.map(\.value) == ["a", "u@c", "1", "2"])
    }

    @Test("chunked bodies (with extensions and trailers) and a pipelined second request")
    func chunkedAndPipelined() throws {
        let parts = try decode(["POST /ews/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n",
                                "6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /owa/ HTTP/1.1\r\n\r\n"])
        #expect(body(parts) == "hello world")
        let heads = parts.compactMap { if case .head(let head) = $0 { return head.uri } else { return nil } }
        #expect(heads == ["/ews/", "/owa/"])
        #expect(parts.filter { if case .end = $0 { return true } else { return false } }.count == 2)
    }

    @Test("ambiguous or broken framing is refused with a message", arguments: [
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Transfer-Encoding and Content-Length"),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "conflicting Content-Length"),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        ("GET / HTTP/1.1\nHost: a\r\n\r\n", "bare LF"),
        ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "folding"),
        ("GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version"),
        ("G(T / HTTP/1.1\r\n\r\n", "invalid method"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
    ])
    func rejects(request: String, message: String) throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SimRequestDecoder()))
        #expect {
            try channel.writeInbound(ByteBuffer(string: request))
        } throws: { error in
            (error as? SimHTTPParseError)?.message.contains(message) == true
        }
        _ = try? channel.finish()
    }

    @Test("an oversized head is refused rather than buffered without limit")
    func headLimit() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SimRequestDecoder()))
        let big = "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: SimRequestDecoder.maxHeadBytes + 10)
        #expect(throws: SimHTTPParseError.self) { try channel.writeInbound(ByteBuffer(string: big)) }
        _ = try? channel.finish()
    }
}
