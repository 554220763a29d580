import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// Gatehouse's encoders write exactly what NIO's write with `automaticallySetFramingHeaders = false`
/// (the configuration they replace), message by message, and complete every promise.
@Suite("HTTP1MessageEncoder")
struct HTTP1MessageEncoderTests {
    /// Every byte the channel wrote for `parts`, one buffer.
    static func bytes<Encoder: ChannelOutboundHandler, Part>(
        _ encoder: Encoder, _ parts: [Part], promises: Bool = false
    ) throws -> [UInt8] where Encoder.OutboundIn == Part {
        let channel = EmbeddedChannel(handler: encoder)
        var futures: [EventLoopFuture<Void>] = []
        for part in parts {
            if promises {
                let promise = channel.eventLoop.makePromise(of: Void.self)
                futures.append(promise.futureResult)
                channel.write(part, promise: promise)
            } else {
                channel.write(part, promise: nil)
            }
        }
        channel.flush()
        for future in futures { try future.wait() }
        var out: [UInt8] = []
        while let chunk = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = chunk else {
                Issue.record("unexpected file region")
                continue
            }
            out += buffer.readableBytesView
        }
        _ = try channel.finish()
        return out
    }

    static var nioResponseEncoder: HTTPResponseEncoder {
        var configuration = HTTPResponseEncoder.Configuration()
        configuration.automaticallySetFramingHeaders = false
        return HTTPResponseEncoder(configuration: configuration)
    }

    static var nioRequestEncoder: HTTPRequestEncoder {
        var configuration = HTTPRequestEncoder.Configuration()
        configuration.automaticallySetFramingHeaders = false
        return HTTPRequestEncoder(configuration: configuration)
    }

    static let fields: HTTPHeaders = [
        "Content-Type": "text/html; charset=utf-8", "Set-Cookie": "a=1; path=/; secure", "x-empty": "",
        "X-Long": String(repeating: "v", count: 5_000), "Server": "Microsoft-IIS/10.0",
        "x-utf8": "caf\u{e9} \u{2603}"
    ]

    static var chunked: HTTPHeaders {
        var headers = fields
        headers.add(name: "Transfer-Encoding", value: "chunked")
        return headers
    }

    static func body(_ count: Int) -> IOData {
        .byteBuffer(ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) }))
    }

    /// Responses: statuses known and custom (empty reason, four digits), versions 1.0/1.1/2.0 and
    /// an odd one, no fields, Content-Length bodies, chunked bodies of sizes around hex digit
    /// boundaries, an empty chunk, trailers, and two messages in a row on one encoder.
    static let responses: [[HTTPServerResponsePart]] = {
        var messages: [[HTTPServerResponsePart]] = []
        let statuses: [HTTPResponseStatus] = [
            .ok, .noContent, .notModified, .notFound, .misdirectedRequest, .custom(code: 599, reasonPhrase: ""),
            .custom(code: 1000, reasonPhrase: "Odd Status"), .custom(code: 200, reasonPhrase: "Fine \u{e9}"),
            .continue, .switchingProtocols
        ]
        let versions: [HTTPVersion] = [.http1_1, .http1_0, .http2, HTTPVersion(major: 12, minor: 34)]
        for status in statuses {
            for version in versions {
                messages.append([.head(HTTPResponseHead(version: version, status: status, headers: fields)), .end(nil)])
            }
        }
        messages.append([.head(HTTPResponseHead(version: .http1_1, status: .ok)), .end(nil)])
        var sized = fields
        sized.add(name: "Content-Length", value: "300")
        messages.append([
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: sized)), .body(body(100)), .body(body(200)),
            .end(nil)
        ])
        messages.append([
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: chunked)),
            .body(body(1)), .body(body(15)), .body(body(16)), .body(body(0)), .body(body(255)), .body(body(256)),
            .body(body(4_097)), .body(body(70_000)), .end(nil)
        ])
        messages.append([
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: chunked)), .body(body(10)),
            .end(["Grpc-Status": "0", "x-trailer": "last"])
        ])
        messages.append([.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: chunked)), .end([:])])
        // Chunked framing only on HTTP/1.1 and later, and only for the exact value `chunked`.
        messages.append([.head(HTTPResponseHead(version: .http1_0, status: .ok, headers: chunked)), .body(body(10)), .end(nil)])
        messages.append([
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["transfer-encoding": "gzip, chunked"])),
            .body(body(10)), .end(nil)
        ])
        messages.append([
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["TRANSFER-ENCODING": "chunked"])),
            .body(body(10)), .end(nil)
        ])
        // The framing of one message does not leak into the next.
        messages.append([
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: chunked)), .body(body(3)), .end(nil),
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "3"])), .body(body(3)),
            .end(nil)
        ])
        return messages
    }()

    @Test("responses: the same bytes as NIO's HTTPResponseEncoder without automatic framing")
    func responsesMatchNIO() throws {
        for message in Self.responses {
            let ours = try Self.bytes(HTTP1ResponseEncoder(), message)
            let nio = try Self.bytes(Self.nioResponseEncoder, message)
            #expect(ours == nio, "\(message.count) parts, head \(message.first.map { "\($0)" }?.prefix(120) ?? "")")
            let oursWithPromises = try Self.bytes(HTTP1ResponseEncoder(), message, promises: true)
            #expect(oursWithPromises == nio)
        }
    }

    @Test("requests: the same bytes as NIO's HTTPRequestEncoder without automatic framing")
    func requestsMatchNIO() throws {
        var messages: [[HTTPClientRequestPart]] = []
        let methods: [HTTPMethod] = [
            .GET, .HEAD, .POST, .PUT, .DELETE, .OPTIONS, .PROPFIND, .MSEARCH, .RAW(value: "RPC_IN_DATA"),
            .RAW(value: "X-MS-ENUMATTS")
        ]
        for method in methods {
            for version in [HTTPVersion.http1_1, .http1_0] {
                messages.append([
                    .head(HTTPRequestHead(version: version, method: method, uri: "/ews/exchange.asmx?a=b%20c", headers: Self.fields)),
                    .end(nil)
                ])
            }
        }
        messages.append([.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")), .end(nil)])
        messages.append([.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "")), .end(nil)])
        var sized = Self.fields
        sized.add(name: "Content-Length", value: "20")
        messages.append([
            .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/mapi/emsmdb/", headers: sized)),
            .body(Self.body(20)), .end(nil)
        ])
        messages.append([
            .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/rpc/rpcproxy.dll", headers: Self.chunked)),
            .body(Self.body(9)), .body(Self.body(0)), .body(Self.body(4_095)), .body(Self.body(65_536)),
            .end(["x-checksum": "1"])
        ])
        for message in messages {
            let ours = try Self.bytes(HTTP1RequestEncoder(), message)
            let nio = try Self.bytes(Self.nioRequestEncoder, message)
            #expect(ours == nio, "\(message.first.map { "\($0)" }?.prefix(120) ?? "")")
            #expect(try Self.bytes(HTTP1RequestEncoder(), message, promises: true) == nio)
        }
    }

    @Test("a chunked head, two chunks and trailers, spelled out")
    func chunkedSpelledOut() throws {
        let message: [HTTPServerResponsePart] = [
            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Transfer-Encoding": "chunked"])),
            .body(.byteBuffer(ByteBuffer(string: "hello"))), .body(.byteBuffer(ByteBuffer(string: String(repeating: "x", count: 26)))),
            .end(["Checksum": "ab"])
        ]
        let text = String(decoding: try Self.bytes(HTTP1ResponseEncoder(), message), as: UTF8.self)
        #expect(
            text
                == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a\r\n"
                + String(repeating: "x", count: 26) + "\r\n0\r\nChecksum: ab\r\n\r\n")
    }

    @Test("a write that fails fails its promise (closed channel)")
    func failedWriteFailsPromise() throws {
        let channel = EmbeddedChannel(handler: HTTP1ResponseEncoder())
        _ = try channel.finish()
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.write(
            HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Transfer-Encoding": "chunked"])),
            promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "abc"))), promise: promise)
        #expect(throws: (any Error).self) { try promise.futureResult.wait() }
    }

    @Test("head size: counted first, so the head is one allocation that never grows")
    func headIsSizedFirst() {
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: Self.fields)
        let buffer = HTTP1HeadWriter.head(.response(head), headers: head.headers, allocator: ByteBufferAllocator())
        var expected = "HTTP/1.1 200 OK\r\n"
        for (name, value) in Self.fields { expected += "\(name): \(value)\r\n" }
        expected += "\r\n"
        #expect(buffer.readableBytes == expected.utf8.count)
        #expect(buffer.getString(at: 0, length: buffer.readableBytes) == expected)
        // NIO rounds an allocation up to a power of two; a buffer that had to grow would be at
        // least twice the size asked for.
        #expect(buffer.capacity < 2 * expected.utf8.count)
    }
}
