import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// The cases that the mailbox simulator's former parser was tested with, kept for the shared decoder.
@Suite("HTTP1RequestDecoder basics")
struct HTTP1RequestDecoderBasicTests {
    @Test("RPC_IN_DATA (which llhttp rejects) parses, with its Content-Length body streamed in pieces")
    func rpcInData() throws {
        let parts = try decodeAll([
            "RPC_IN_DATA /rpc/rpcproxy.dll?mbx01:6001 HTTP/1.1\r\nHost: mbx01\r\nContent-Length: 10\r\n\r\n01234",
            "56789"
        ])
        guard case .head(let head) = parts.first else {
            Issue.record("no head")
            return
        }
        #expect(head.method.rawValue == "RPC_IN_DATA")
        #expect(head.uri == "/rpc/rpcproxy.dll?mbx01:6001")
        #expect(bodyText(parts) == "0123456789")
        #expect(parts.count == 4)
        if case .end(nil) = parts.last {} else { Issue.record("no end part") }
    }

    @Test("header names keep their case and order; duplicates are kept; values lose surrounding whitespace")
    func headerFidelity() throws {
        let parts = try decodeAll([
            "GET /x HTTP/1.1\r\nhost: a\r\nX-AnchorMailbox:u@c\r\nx-dup: 1 \t\r\nX-DUP: \t2\r\nX-Empty:\r\nX-Inner: a  b\r\n\r\n"
        ])
        guard case .head(let head) = parts.first else {
            Issue.record("no head")
            return
        }
        #expect(head.headers.map(\.name) == ["host", "X-AnchorMailbox", "x-dup", "X-DUP", "X-Empty", "X-Inner"])
        #expect(head.headers.map(\.value) == ["a", "u@c", "1", "2", "", "a  b"])
        #expect(endCount(parts) == 1)
    }

    @Test("chunked bodies (with extensions and trailers) and a pipelined second request")
    func chunkedAndPipelined() throws {
        let parts = try decodeAll([
            "POST /ews/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n",
            "6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /owa/ HTTP/1.1\r\n\r\n"
        ])
        #expect(bodyText(parts) == "hello world")
        #expect(heads(parts).map(\.uri) == ["/ews/", "/owa/"])
        #expect(endCount(parts) == 2)
    }

    @Test(
        "ambiguous or broken framing is refused with a message",
        arguments: [
            ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Transfer-Encoding and Content-Length"),
            ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "differ"),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "Content-Length '-1'"),
            ("GET / HTTP/1.1\nHost: a\r\n\r\n", "LF without CR"),
            ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "folding"),
            ("GET / HTTP/2.0\r\n\r\n", "not supported"),
            ("G(T / HTTP/1.1\r\n\r\n", "method"),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "only a single 'chunked'"),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size")
        ])
    func rejects(request: String, message: String) throws {
        let error = decoderError(request)
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test("an oversized head is refused rather than buffered without limit, before its end arrives")
    func headLimit() throws {
        let harness = DecoderHarness()
        let big = "GET / HTTP/1.1\r\n" + String(repeating: "X-Big: \(String(repeating: "a", count: 1000))\r\n", count: 300)
        #expect(throws: HTTP1DecoderError.self) { _ = try harness.feed(big) }
    }
}
