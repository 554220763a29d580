// Benchmark: HTTP1RequestDecoder against NIO's HTTPRequestDecoder (llhttp) on a typical Outlook
// request head (about 500 bytes), each behind ByteToMessageHandler in an EmbeddedChannel, as in a
// server pipeline. Prints ns per request; build with -c release.
//
//   swift build -c release --product http1-decoder-bench && .build/release/http1-decoder-bench [iterations]
import GatehouseHTTP1
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// A MAPI/HTTP request as Outlook sends it (shortened bearer token), about 500 bytes.
let outlookHead =
    "POST /mapi/emsmdb/?MailboxId=5f2c8a9e-1b7d-4e3a@contoso.com HTTP/1.1\r\n"
    + "Host: mail.contoso.com\r\n"
    + "User-Agent: Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)\r\n"
    + "Content-Type: application/mapi-http\r\n"
    + "X-RequestType: Execute\r\n"
    + "X-ClientInfo: {2F94A2BF-A2E6-4CCC-BF98-B5F22C542226}:12\r\n"
    + "X-RequestId: {E2EA6C1C-E61B-49E9-9CFB-38184F907552}:13\r\n"
    + "X-ClientApplication: Outlook/16.0.17928\r\n"
    + "X-AnchorMailbox: user@contoso.com\r\n"
    + "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9\r\n"
    + "Accept: */*\r\n"
    + "Connection: Keep-Alive\r\n"
    + "Content-Length: 0\r\n"
    + "\r\n"

/// Counts what the decoder produces, so that nothing is optimised away and nothing piles up.
final class CountingSink: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    var heads = 0
    var ends = 0
    var fields = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            heads += 1
            fields += head.headers.count
        case .body:
            break
        case .end:
            ends += 1
        }
    }
}

/// Feeds `requestsPerRead` copies of the head per read, `reads` times; returns ns per request.
func measure(_ makeDecoder: () -> any ChannelHandler, requestsPerRead: Int, reads: Int) throws -> Double {
    let channel = EmbeddedChannel()
    let sink = CountingSink()
    try channel.pipeline.syncOperations.addHandler(makeDecoder())
    try channel.pipeline.syncOperations.addHandler(sink)
    let read = ByteBuffer(string: String(repeating: outlookHead, count: requestsPerRead))
    for _ in 0..<min(reads, 1000) { try channel.writeInbound(read) }  // warm-up
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<reads { try channel.writeInbound(read) }
    let elapsed = clock.now - start
    let expected = (reads + min(reads, 1000)) * requestsPerRead
    precondition(
        sink.heads == expected && sink.ends == expected && sink.fields == expected * 12,
        "decoder lost requests: \(sink.heads) heads, \(sink.ends) ends, \(sink.fields) fields for \(expected)")
    _ = try channel.finish()
    let (seconds, attoseconds) = elapsed.components
    let nanoseconds = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    return nanoseconds / Double(reads * requestsPerRead)
}

/// Emits a prebuilt head and end per request without parsing: what the harness itself costs.
struct NullDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart
    let length = outlookHead.utf8.count
    let head = HTTPRequestHead(
        version: .http1_1, method: .POST, uri: "/mapi/emsmdb/",
        headers: HTTPHeaders((1...12).map { ("X-Field-\($0)", "value") }))

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: length)
        context.fireChannelRead(Self.wrapInboundOut(.head(head)))
        context.fireChannelRead(Self.wrapInboundOut(.end(nil)))
        return .continue
    }
}

// Arguments: [iterations] [ours|nio] (one decoder only, e.g. under perf).
let iterations = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 200_000
let only = CommandLine.arguments.dropFirst(2).first
print("request head: \(outlookHead.utf8.count) bytes, 12 fields; \(iterations) requests per run, best of 5 runs")
for requestsPerRead in [1, 16] {
    var ours: [Double] = []
    var nios: [Double] = []
    var nulls: [Double] = []
    for _ in 0..<5 {  // interleaved, so that all see the same machine load
        if only != "nio" {
            ours.append(
                try measure(
                    { ByteToMessageHandler(HTTP1RequestDecoder()) },
                    requestsPerRead: requestsPerRead, reads: iterations / requestsPerRead))
        }
        if only != "ours" {
            nios.append(
                try measure(
                    { ByteToMessageHandler(HTTPRequestDecoder()) },
                    requestsPerRead: requestsPerRead, reads: iterations / requestsPerRead))
        }
        if only == nil {
            nulls.append(
                try measure(
                    { ByteToMessageHandler(NullDecoder()) },
                    requestsPerRead: requestsPerRead, reads: iterations / requestsPerRead))
        }
    }
    func show(_ samples: [Double]) -> String {
        samples.isEmpty ? "-" : "\(Int(samples.min()!)) ns (median \(Int(samples.sorted()[samples.count / 2])))"
    }
    let label = requestsPerRead == 1 ? "1 request per read:    " : "\(requestsPerRead) pipelined per read:"
    print(
        "\(label) HTTP1RequestDecoder \(show(ours)) | NIO HTTPRequestDecoder \(show(nios))"
            + " | harness alone (no parsing) \(show(nulls))")
}
