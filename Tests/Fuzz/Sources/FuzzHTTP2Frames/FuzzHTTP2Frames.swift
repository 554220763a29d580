import GatehouseHTTP1
import GatehouseHTTP2
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Fuzzes the HTTP/2 server session (`HTTP2ServerHandler` over nghttp2) with raw frames after the
/// client connection preface, behind a proxy stand-in that answers every request at once
/// (200, a short body) and reports every body byte consumed, so responses, flow control and
/// stream resets all run.
///
/// Input: the bytes after `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (seeds: frames written by the Python
/// h2 library), delivered in one read, then the connection closes.
///
/// Invariants: never a crash or an ASan report; each stream's parts reach the proxy in order
/// (one head, bodies, one end, nothing after the end); stream ids are odd (client-initiated).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP2Frames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let channel = EmbeddedChannel()
    try! channel.pipeline.syncOperations.addHandler(HTTP2ServerHandler())
    try! channel.pipeline.syncOperations.addHandler(Responder())
    _ = try? channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 50_000)).wait()
    var bytes = channel.allocator.buffer(capacity: preface.count + size)
    bytes.writeBytes(preface)
    bytes.writeBytes(UnsafeRawBufferPointer(start: data, count: size))
    _ = try? channel.writeInbound(bytes)
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    _ = try? channel.close().wait()
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    _ = try? channel.finish(acceptAlreadyClosed: true)
    return 0
}

let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

/// Answers each request as soon as its end arrives, checking the order of each stream's parts.
final class Responder: ChannelInboundHandler {
    typealias InboundIn = TaggedRequestPart
    typealias OutboundOut = TaggedResponsePart

    enum Progress { case head, body }
    var streams: [Int32: Progress] = [:]
    var finished: Set<Int32> = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let tagged = unwrapInboundIn(data)
        let id = tagged.stream
        precondition(id.rawValue > 0 && id.rawValue % 2 == 1, "a request on \(id)")
        precondition(!finished.contains(id.rawValue), "a part after the end of \(id)")
        switch tagged.part {
        case .head:
            precondition(streams[id.rawValue] == nil, "a second head on \(id)")
            streams[id.rawValue] = .head
        case .body(let buffer):
            precondition(streams[id.rawValue] != nil, "a body before the head on \(id)")
            streams[id.rawValue] = .body
            context.triggerUserOutboundEvent(StreamCommand.consumed(id, bytes: buffer.readableBytes), promise: nil)
        case .end:
            precondition(streams[id.rawValue] != nil, "an end before the head on \(id)")
            streams[id.rawValue] = nil
            finished.insert(id.rawValue)
            let head = HTTPResponseHead(version: .http2, status: .ok, headers: ["content-type": "text/plain"])
            context.write(wrapOutboundOut(TaggedResponsePart(stream: id, part: .head(head))), promise: nil)
            let body = context.channel.allocator.buffer(string: "fuzz")
            context.write(wrapOutboundOut(TaggedResponsePart(stream: id, part: .body(.byteBuffer(body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(TaggedResponsePart(stream: id, part: .end(nil))), promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .reset(let id)? = event as? StreamEvent {
            streams[id.rawValue] = nil
            finished.insert(id.rawValue)
        }
    }
}
