import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// Every shape that request smuggling or a sloppy parser feeds on is refused, each with its reason.
@Suite("HTTP1RequestDecoder rejections")
struct HTTP1RequestDecoderRejectionTests {
    typealias Reason = HTTP1DecoderError.Reason

    @Test(
        "body framing that two parsers could read differently",
        arguments: [
            ("Content-Length: 3\r\nTransfer-Encoding: chunked", Reason.contentLengthAndTransferEncoding),
            ("Transfer-Encoding: chunked\r\nContent-Length: 3", .contentLengthAndTransferEncoding),
            ("Content-Length: 3\r\nContent-Length: 4", .conflictingContentLength),
            ("Content-Length: 3, 4", .conflictingContentLength),
            ("Content-Length: -1", .invalidContentLength),
            ("Content-Length: +5", .invalidContentLength),
            ("Content-Length: 0x10", .invalidContentLength),
            ("Content-Length: 5 5", .invalidContentLength),
            ("Content-Length: 5,", .invalidContentLength),
            ("Content-Length:", .invalidContentLength),
            ("Content-Length: 1.0", .invalidContentLength),
            ("Content-Length: 9223372036854775808", .invalidContentLength),
            ("Content-Length: 99999999999999999999999", .invalidContentLength),
            ("Transfer-Encoding: chunked, identity", .unsupportedTransferEncoding),
            // `gzip, chunked` is legal HTTP (the final coding is chunked) but refused: the safer choice.
            ("Transfer-Encoding: gzip, chunked", .unsupportedTransferEncoding),
            ("Transfer-Encoding: chunked, chunked", .unsupportedTransferEncoding),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", .unsupportedTransferEncoding),
            ("Transfer-Encoding: identity", .unsupportedTransferEncoding),
            ("Transfer-Encoding: xchunked", .unsupportedTransferEncoding),
            ("Transfer-Encoding: chunked;q=1", .unsupportedTransferEncoding),
            ("Transfer-Encoding:", .unsupportedTransferEncoding)
        ])
    func framing(fields: String, reason: Reason) {
        let error = decoderError("POST / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n\r\n")
        #expect(error?.reason == reason, "\(String(describing: error))")
        #expect(error?.status == .badRequest)
    }

    @Test("Transfer-Encoding on an HTTP/1.0 request is refused")
    func transferEncodingOnHTTP10() {
        #expect(decoderError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")?.reason == .unsupportedTransferEncoding)
    }

    @Test(
        "malformed field lines",
        arguments: [
            ("Host : a", Reason.whitespaceBeforeColon),
            ("Host\t: a", .whitespaceBeforeColon),
            (" X-Folded: a", .obsoleteLineFolding),
            ("\tX-Folded: a", .obsoleteLineFolding),
            ("X-A: a\r\n continued", .obsoleteLineFolding),
            ("X-A: a\rb", .bareCR),
            ("X-A: a\r", .bareCR),
            ("X-A\r: a", .bareCR),
            ("X-A: a\u{0}b", .invalidFieldValue),
            ("X-A: a\u{7F}b", .invalidFieldValue),
            ("X-A: a\u{1B}b", .invalidFieldValue),
            ("X-A: a\nX-B: b", .bareLF),
            (": empty-name", .invalidFieldName),
            ("X(A): a", .invalidFieldName),
            ("X\u{0}A: a", .invalidFieldName),
            ("NoColon", .invalidFieldName),
            ("Ünicode: a", .invalidFieldName)
        ])
    func fieldLines(line: String, reason: Reason) {
        let error = decoderError("GET / HTTP/1.1\r\nHost: a\r\n\(line)\r\n\r\n")
        #expect(error?.reason == reason, "\(String(describing: error))")
    }

    @Test(
        "malformed request lines",
        arguments: [
            ("G(T / HTTP/1.1", Reason.invalidMethod),
            ("GET / HTTP/1.1\rX", .bareCR),
            ("GET /a\rb HTTP/1.1", .bareCR),
            ("GET /a\u{0}b HTTP/1.1", .invalidTarget),
            ("GET /a\u{7F}b HTTP/1.1", .invalidTarget),
            ("GET /ä HTTP/1.1", .invalidTarget),
            ("GET /a\tb HTTP/1.1", .invalidTarget),
            ("GET  / HTTP/1.1", .invalidRequestLine),
            ("GET / HTTP/1.1\nHost: a", .bareLF)
        ])
    func requestLines(line: String, reason: Reason) {
        let error = decoderError("\(line)\r\n\r\n")
        #expect(error?.reason == reason, "\(String(describing: error))")
    }

    @Test(
        "bad chunk-size lines and chunk terminators",
        arguments: [
            ("zz\r\n", Reason.invalidChunkSize),
            ("\r\n", .invalidChunkSize),
            ("-1\r\n", .invalidChunkSize),
            ("+1\r\n", .invalidChunkSize),
            ("0x5\r\n", .invalidChunkSize),
            ("5 \r\nhello\r\n", .invalidChunkSize),
            ("5 x\r\n", .invalidChunkSize),
            ("5;ext\u{0}\r\n", .invalidChunkSize),
            ("5;a\rb\r\n", .bareCR),
            ("5\nhello\r\n", .bareLF),
            ("8000000000000000\r\n", .chunkSizeOverflow),
            ("10000000000000000\r\n", .chunkSizeOverflow),
            ("ffffffffffffffffffff\r\n", .chunkSizeOverflow),
            ("5\r\nhelloX\r\n", .missingChunkTerminator),
            ("5\r\nhello\n0\r\n", .missingChunkTerminator),
            ("5\r\nhello world\r\n", .missingChunkTerminator)
        ])
    func chunks(body: String, reason: Reason) {
        let error = decoderError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\(body)")
        #expect(error?.reason == reason, "\(String(describing: error))")
    }

    @Test("the largest chunk size that fits in 63 bits is accepted (the body then streams)")
    func largestChunkSize() throws {
        let harness = DecoderHarness()
        let parts = try harness.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0007fffffffFFFFFFF\r\nabc")
        #expect(bodyText(parts) == "abc")
    }

    @Test("bad trailers are refused like bad header lines")
    func badTrailers() {
        #expect(decoderError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T : 1\r\n\r\n")?.reason == .whitespaceBeforeColon)
        #expect(decoderError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded\r\n\r\n")?.reason == .obsoleteLineFolding)
        #expect(decoderError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\n")?.reason == .bareLF)
    }

    @Test("after an error the decoder stays failed: later bytes are not parsed as a new request")
    func staysFailed() throws {
        let harness = DecoderHarness()
        #expect(throws: HTTP1DecoderError.self) { _ = try harness.feed("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n") }
        #expect((try? harness.feed("GET /next HTTP/1.1\r\n\r\n"))?.isEmpty ?? true)
    }

    @Test("each reason maps to the status and NIO parser error the error handlers rely on")
    func statusMapping() {
        for reason in Reason.allCases {
            let error = HTTP1DecoderError(reason, "x")
            switch reason {
            case .fieldLineTooLong, .headTooLarge, .tooManyFields:
                #expect(error.status == .requestHeaderFieldsTooLarge)
                #expect(error.parserError == .headerOverflow)
            case .unsupportedVersion:
                #expect(error.status == .httpVersionNotSupported)
                #expect(error.parserError == .invalidVersion)
            case .requestLineTooLong:
                #expect(error.status == .uriTooLong)
            default:
                #expect(error.status == .badRequest, "\(reason)")
                #expect(error.parserError != .headerOverflow && error.parserError != .invalidVersion, "\(reason)")
            }
            #expect(
                HTTP1ProtocolErrorHandler.status(for: error.parserError) == (reason == .requestLineTooLong ? .badRequest : error.status))
        }
    }
}
