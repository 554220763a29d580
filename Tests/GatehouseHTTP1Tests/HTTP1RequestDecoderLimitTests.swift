import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// Size limits: a client cannot make the decoder buffer or scan without bound.
@Suite("HTTP1RequestDecoder limits")
struct HTTP1RequestDecoderLimitTests {
    static let small = HTTP1RequestDecoder.Limits(
        maxFieldLineBytes: 100, maxHeadBytes: 400, maxFieldCount: 5,
        maxChunkLineBytes: 20, maxTrailerBytes: 120)

    /// A field line of exactly `length` bytes (without CRLF).
    func field(_ length: Int, name: String = "X-Long") -> String {
        name + ": " + String(repeating: "v", count: length - name.utf8.count - 2)
    }

    @Test("a field line at the limit passes; one byte more is 431, whether or not its end has arrived")
    func fieldLine() throws {
        #expect(heads(try decodeAll(["GET / HTTP/1.1\r\n\(field(100))\r\n\r\n"], limits: Self.small)).count == 1)
        let error = decoderError("GET / HTTP/1.1\r\n\(field(101))\r\n\r\n", limits: Self.small)
        #expect(error?.reason == .fieldLineTooLong)
        #expect(error?.status == .requestHeaderFieldsTooLarge)
        // Without its CRLF yet: refused as soon as it is longer than the limit could allow.
        let harness = DecoderHarness(limits: Self.small)
        _ = try harness.feed("GET / HTTP/1.1\r\n" + field(100))
        #expect { _ = try harness.feed("vv") } throws: { ($0 as? HTTP1DecoderError)?.reason == .fieldLineTooLong }
    }

    @Test("the default field-line limit is 64 KiB and is configurable (Kerberos tokens are big)")
    func defaultFieldLine() throws {
        let token = "Authorization: Negotiate " + String(repeating: "Y", count: 60_000)
        #expect(heads(try decodeAll(["GET / HTTP/1.1\r\n\(token)\r\n\r\n"])).first?.headers["Authorization"].first?.count == 60_010)
        #expect(decoderError("GET / HTTP/1.1\r\n\(field(64 * 1024 + 1))\r\n\r\n")?.reason == .fieldLineTooLong)
        let roomy = HTTP1RequestDecoder.Limits(maxFieldLineBytes: 128 * 1024)
        #expect(heads(try decodeAll(["GET / HTTP/1.1\r\n\(field(100_000))\r\n\r\n"], limits: roomy)).count == 1)
    }

    @Test("an overlong request line is 414")
    func requestLine() {
        let error = decoderError("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\n\r\n", limits: Self.small)
        #expect(error?.reason == .requestLineTooLong)
        #expect(error?.status == .uriTooLong)
    }

    @Test("the whole head is limited, complete or not")
    func total() throws {
        let five = (1...5).map { field(90, name: "X-\($0)") + "\r\n" }.joined()
        #expect(decoderError("GET / HTTP/1.1\r\n\(five)\r\n", limits: Self.small)?.reason == .headTooLarge)
        let harness = DecoderHarness(limits: Self.small)
        #expect { _ = try harness.feed("GET / HTTP/1.1\r\n" + five) } throws: { ($0 as? HTTP1DecoderError)?.reason == .headTooLarge }
    }

    @Test("field count: at the limit passes, one more is 431")
    func count() throws {
        let five = (1...5).map { "X-\($0): v\r\n" }.joined()
        #expect(heads(try decodeAll(["GET / HTTP/1.1\r\n\(five)\r\n"], limits: Self.small)).first?.headers.count == 5)
        let error = decoderError("GET / HTTP/1.1\r\n\(five)X-6: v\r\n\r\n", limits: Self.small)
        #expect(error?.reason == .tooManyFields)
        #expect(error?.status == .requestHeaderFieldsTooLarge)
    }

    @Test("chunk-size lines are limited, extensions included, even before their end arrives")
    func chunkLine() throws {
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(bodyText(try decodeAll([head + "3;abcdefghijklmno\r\nabc\r\n0\r\n\r\n"], limits: Self.small)) == "abc")
        #expect(decoderError(head + "3;abcdefghijklmnopqrstuvwxyz\r\nabc\r\n0\r\n\r\n", limits: Self.small)?.reason == .chunkLineTooLong)
        let harness = DecoderHarness(limits: Self.small)
        _ = try harness.feed(head)
        #expect { _ = try harness.feed("3;" + String(repeating: "e", count: 40)) } throws: {
            ($0 as? HTTP1DecoderError)?.reason == .chunkLineTooLong
        }
    }

    @Test("trailer sections are limited in size and count")
    func trailers() {
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        let two = field(70, name: "X-1") + "\r\n" + field(70, name: "X-2") + "\r\n"
        #expect(decoderError(head + two + "\r\n", limits: Self.small)?.reason == .headTooLarge)
        let six = (1...6).map { "X-\($0): v\r\n" }.joined()
        #expect(decoderError(head + six + "\r\n", limits: Self.small)?.reason == .tooManyFields)
        #expect(decoderError(head + field(101) + "\r\n\r\n", limits: Self.small)?.reason == .fieldLineTooLong)
    }
}
