import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// Request lines, bodies as zero-copy slices, chunked framing, pipelining and read splits.
@Suite("HTTP1RequestDecoder")
struct HTTP1RequestDecoderTests {
    @Test("a 1 GB RPC_IN_DATA body streams: each read becomes one body slice of the received buffer, nothing accumulates")
    func rpcInDataStreamsAsSlices() throws {
        let harness = DecoderHarness()
        let headParts = try harness.feed(
            "RPC_IN_DATA /rpc/rpcproxy.dll?mbx01.contoso.lab:6001 HTTP/1.1\r\n"
                + "Host: mail.contoso.lab\r\nContent-Length: 1073741824\r\n\r\n")
        #expect(headParts.count == 1)
        #expect(heads(headParts).first?.method == .RAW(value: "RPC_IN_DATA"))
        let piece = 64 * 1024
        for round in 0..<32 {
            let read = ByteBuffer(repeating: UInt8(round), count: piece)
            let parts = try harness.feed(read)
            #expect(parts.count == 1)
            guard case .body(let slice) = parts.first else {
                Issue.record("expected one body part")
                return
            }
            #expect(slice.readableBytes == piece)
            // Zero copy: the slice is the received buffer's own memory.
            let sliceBase = slice.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            let readBase = read.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            #expect(sliceBase == readBase)
        }
        // The connection ends 1 GiB - 2 MiB short: that is an error, never a complete request.
        #expect { _ = try harness.finish() } throws: { ($0 as? HTTP1DecoderError)?.reason == .truncatedBody }
    }

    @Test("RPC_OUT_DATA with Content-Length and the body in the same read as the head")
    func rpcOutData() throws {
        let parts = try decodeAll([
            "RPC_OUT_DATA /rpc/rpcproxy.dll?mbx01:6001 HTTP/1.1\r\nContent-Length: 76\r\n\r\n"
                + String(repeating: "r", count: 76)
        ])
        #expect(
            transcript(parts) == [
                "head RPC_OUT_DATA /rpc/rpcproxy.dll?mbx01:6001 HTTP/1.1 [Content-Length=76]",
                "body " + String(repeating: "r", count: 76), "end [none]"
            ])
    }

    @Test(
        "any token is a method; methods are case-sensitive",
        arguments: [
            "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "SEARCH",
            "RPC_IN_DATA", "RPC_OUT_DATA", "get", "M-SEARCH", "X.Y~Z!", "BPROPFIND"
        ])
    func methods(method: String) throws {
        let parts = try decodeAll(["\(method) /x HTTP/1.1\r\nHost: a\r\n\r\n"])
        #expect(heads(parts).first?.method.rawValue == method)
        #expect(heads(parts).first?.method == HTTPMethod(rawValue: method))
    }

    @Test(
        "every request-target form is passed through as the uri, unchanged",
        arguments: [
            ("GET", "/owa/?ae=Item&t=IPM.Note&a=Open%20x"),
            ("GET", "http://mail.contoso.lab/ews/exchange.asmx"),
            ("OPTIONS", "*"),
            ("CONNECT", "mail.contoso.lab:443"),
            ("GET", "/a/../b/./%2e%2E/c//d")
        ])
    func targets(method: String, target: String) throws {
        let parts = try decodeAll(["\(method) \(target) HTTP/1.1\r\nHost: a\r\n\r\n"])
        #expect(heads(parts).first?.uri == target)
    }

    @Test("HTTP/1.0 and HTTP/1.1 are accepted; other versions are 505, malformed ones 400")
    func versions() throws {
        #expect(heads(try decodeAll(["GET / HTTP/1.0\r\n\r\n"])).first?.version == .http1_0)
        #expect(heads(try decodeAll(["GET / HTTP/1.1\r\n\r\n"])).first?.version == .http1_1)
        for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3.0"] {
            let error = decoderError("GET / \(version)\r\n\r\n")
            #expect(error?.reason == .unsupportedVersion, "\(version)")
            #expect(error?.status == .httpVersionNotSupported)
        }
        for version in ["http/1.1", "HTTP/1.1 ", "HTTP/11", "HTTP/1.1x", "HTTP/1", "HTTPS/1.1", ""] {
            let error = decoderError("GET / \(version)\r\n\r\n")
            #expect(error?.reason == .invalidRequestLine, "'\(version)' gave \(String(describing: error))")
            #expect(error?.status == .badRequest)
        }
    }

    @Test("request lines need exactly one space between the three parts")
    func requestLineShape() throws {
        for line in ["GET  / HTTP/1.1", "GET /  HTTP/1.1", " GET / HTTP/1.1", "GET / HTTP/1.1 ", "GET /", "GET", "GET\t/ HTTP/1.1"] {
            #expect(decoderError(line + "\r\n\r\n") != nil, "'\(line)'")
        }
    }

    @Test("empty lines before a request line are skipped (RFC 9112 2.2)")
    func leadingEmptyLines() throws {
        let parts = try decodeAll(["\r\n\r\nGET / HTTP/1.1\r\n\r\n", "\r\n", "\r\nGET /2 HTTP/1.1\r\n\r\n"])
        #expect(heads(parts).map(\.uri) == ["/", "/2"])
    }

    @Test("chunked: extensions ignored, sizes in hex with leading zeros, trailers become .end(trailers) minus framing fields")
    func chunkedWithExtensionsAndTrailers() throws {
        let parts = try decodeAll([
            "POST /mapi/emsmdb/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                + "5;name=value;other=\"quoted; string\"\r\nhello\r\n"
                + "000A \t;x\r\n0123456789\r\n"
                + "1\r\n!\r\n"
                + "0;last\r\nX-Checksum: abc\r\nx-second:  2 \r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
        ])
        #expect(
            transcript(parts) == [
                "head POST /mapi/emsmdb/ HTTP/1.1 [Host=a|Transfer-Encoding=Chunked]",
                "body hello0123456789!",
                "end [X-Checksum=abc|x-second=2]"
            ])
    }

    @Test("a chunked body without trailers ends with .end(nil)")
    func chunkedWithoutTrailers() throws {
        let parts = try decodeAll(["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"])
        #expect(transcript(parts).last == "end [none]")
        #expect(bodyText(parts) == "abc")
    }

    @Test("Content-Length 0, identical repeats and lists are accepted")
    func contentLengthForms() throws {
        #expect(transcript(try decodeAll(["POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"])).count == 2)
        let repeated = try decodeAll(["POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3, 03\r\n\r\nabc"])
        #expect(bodyText(repeated) == "abc")
        #expect(endCount(repeated) == 1)
    }

    /// Four pipelined requests covering every framing.
    static let pipelined =
        "GET /owa/ HTTP/1.1\r\nHost: mail\r\n\r\n"
        + "RPC_IN_DATA /rpc/rpcproxy.dll?mbx01:6001 HTTP/1.1\r\nHost: mail\r\nContent-Length: 11\r\n\r\nhello world"
        + "POST /ews/exchange.asmx HTTP/1.1\r\nHost: mail\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nsoap\r\n2\r\n!!\r\n0\r\nX-T: 1\r\n\r\n"
        + "\r\nHEAD /autodiscover/ HTTP/1.0\r\nX-Last: yes\r\n\r\n"

    static let pipelinedTranscript = [
        "head GET /owa/ HTTP/1.1 [Host=mail]", "end [none]",
        "head RPC_IN_DATA /rpc/rpcproxy.dll?mbx01:6001 HTTP/1.1 [Host=mail|Content-Length=11]", "body hello world", "end [none]",
        "head POST /ews/exchange.asmx HTTP/1.1 [Host=mail|Transfer-Encoding=chunked]", "body soap!!", "end [X-T=1]",
        "head HEAD /autodiscover/ HTTP/1.0 [X-Last=yes]", "end [none]"
    ]

    @Test("pipelined requests in one read decode in order")
    func pipelining() throws {
        #expect(transcript(try decodeAll([Self.pipelined])) == Self.pipelinedTranscript)
    }

    @Test("fed one byte at a time, the pipelined requests decode identically")
    func byteAtATime() throws {
        let bytes = Array(Self.pipelined.utf8)
        #expect(transcript(try decodeAll(bytes.map { [$0] })) == Self.pipelinedTranscript)
    }

    @Test("split into two reads at every byte boundary, the pipelined requests decode identically")
    func everySplit() throws {
        let bytes = Array(Self.pipelined.utf8)
        for split in 1..<bytes.count {
            let parts = try decodeAll([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(transcript(parts) == Self.pipelinedTranscript, "split at \(split)")
        }
    }

    @Test("a CR, then LF and a bare LF: the skipped empty line does not hide the bare LF")
    func bareLFAfterSkippedLine() throws {
        let harness = DecoderHarness()
        #expect(try harness.feed("\r").isEmpty)
        #expect { _ = try harness.feed("\n\nGET / HTTP/1.1\r\n\r\n") } throws: { ($0 as? HTTP1DecoderError)?.reason == .bareLF }
    }

    @Test("a long header line sent a byte at a time still parses (the scan resumes where it stopped)")
    func longLineByteAtATime() throws {
        let value = String(repeating: "k", count: 20_000)
        let bytes = Array("GET / HTTP/1.1\r\nAuthorization: Negotiate \(value)\r\nHost: a\r\n\r\n".utf8)
        let parts = try decodeAll(bytes.map { [$0] })
        #expect(heads(parts).first?.headers["Authorization"] == ["Negotiate " + value])
        #expect(heads(parts).first?.headers["Host"] == ["a"])
    }

    @Test("Connection: upgrade gets no special treatment: the bytes after the request are the next request")
    func noUpgrade() throws {
        let parts = try decodeAll(["GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\n\r\n"])
        #expect(heads(parts).map(\.uri) == ["/ws", "/next"])
    }
}
