import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// At EOF, an incomplete request is an error: never a short body passed on as complete.
@Suite("HTTP1RequestDecoder at EOF")
struct HTTP1RequestDecoderEOFTests {
    @Test(
        "truncated requests are errors at EOF",
        arguments: [
            ("GET / HTTP/1.1\r\nHost: a\r\n", HTTP1DecoderError.Reason.truncatedHead),
            ("GET / HTT", .truncatedHead),
            ("\r", .truncatedHead),
            ("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345", .truncatedBody),
            ("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", .truncatedBody),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", .truncatedBody),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", .truncatedBody),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", .truncatedBody),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", .truncatedBody),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n", .truncatedBody),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n", .truncatedBody),
            ("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n", .truncatedHead)
        ])
    func truncated(request: String, reason: HTTP1DecoderError.Reason) throws {
        let harness = DecoderHarness()
        let parts = try harness.feed(request)
        #expect(!transcript(parts).contains { $0.hasPrefix("end") && request.contains("Content-Length") })
        #expect { _ = try harness.finish() } throws: { ($0 as? HTTP1DecoderError)?.reason == reason }
    }

    @Test("EOF between requests (even after stray CRLFs) is a clean end")
    func cleanEOF() throws {
        let parts = try decodeAll(["GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok\r\n"])
        #expect(endCount(parts) == 2)
        #expect(try decodeAll([String]()).isEmpty)
    }
}
