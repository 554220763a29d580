import NIOHTTP1
import Testing

@testable import Gatehouse

/// Request-smuggling defence: framing headers that every implementation reads alike, and no others.
@Suite struct HeaderRequestFramingTests {
    @Test(
        arguments: [
            ([], RequestBodyFraming.none),
            ([("Content-Length", "0")], .contentLength(0)),
            ([("Content-Length", "1073741824")], .contentLength(1_073_741_824)),
            ([("content-length", " 42\t")], .contentLength(42)),
            ([("Content-Length", "42"), ("Content-Length", "42")], .contentLength(42)),
            ([("Content-Length", "42, 42")], .contentLength(42)),
            ([("Transfer-Encoding", "chunked")], .chunked),
            ([("transfer-encoding", "Chunked")], .chunked),
            ([("Host", "mail.contoso.com"), ("Content-Length", "3")], .contentLength(3))
        ] as [([(String, String)], RequestBodyFraming)])
    func acceptsUnambiguousFraming(headers: [(String, String)], expected: RequestBodyFraming) throws {
        #expect(try RequestFraming.check(HTTPHeaders(headers)) == expected)
    }

    @Test(
        arguments: [
            ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")], .contentLengthAndTransferEncoding),
            ([("Transfer-Encoding", "chunked"), ("Content-Length", "0")], .contentLengthAndTransferEncoding),
            ([("Content-Length", "5"), ("Content-Length", "6")], .conflictingContentLength),
            ([("Content-Length", "5, 6")], .conflictingContentLength),
            ([("Content-Length", "abc")], .invalidContentLength),
            ([("Content-Length", "-1")], .invalidContentLength),
            ([("Content-Length", "+5")], .invalidContentLength),
            ([("Content-Length", "0x10")], .invalidContentLength),
            ([("Content-Length", "1 2")], .invalidContentLength),
            ([("Content-Length", "")], .invalidContentLength),
            ([("Content-Length", "5,")], .invalidContentLength),
            ([("Content-Length", "99999999999999999999")], .invalidContentLength),
            ([("Transfer-Encoding", "gzip, chunked")], .unsupportedTransferEncoding),
            ([("Transfer-Encoding", "chunked, chunked")], .unsupportedTransferEncoding),
            ([("Transfer-Encoding", "xchunked")], .unsupportedTransferEncoding),
            ([("Transfer-Encoding", "identity")], .unsupportedTransferEncoding),
            ([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], .unsupportedTransferEncoding),
            ([("Transfer-Encoding", "")], .unsupportedTransferEncoding),
            ([("Host", "mail.contoso.com"), ("host", "evil.com")], .multipleHost)
        ] as [([(String, String)], RequestFramingRejection.Reason)])
    func rejectsAmbiguousFraming(headers: [(String, String)], reason: RequestFramingRejection.Reason) {
        #expect(throws: RequestFramingRejection(reason)) { try RequestFraming.check(HTTPHeaders(headers)) }
    }
}
