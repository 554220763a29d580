import GatehouseHTTP1
import GatehouseHTTP2
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// `HTTP2ServerHandler.receiver`: linked to the proxy behind it (`ClientPipeline.addHTTP2`), the
/// handler hands request parts over by direct call instead of firing `TaggedRequestPart`s, and the
/// proxy writes responses with `writeResponse`; the frames the client gets are the same. The link
/// ends when the handler leaves the pipeline.
@Suite struct HTTP2ReceiverLinkTests {
    /// Records the parts it receives.
    final class Recorder: StreamPartReceiver {
        var parts: [(HTTPStreamID, HTTPServerRequestPart)] = []
        func receive(_ part: HTTPServerRequestPart, stream: HTTPStreamID) { parts.append((stream, part)) }
    }

    /// (type, stream) of every frame the server wrote since the last call.
    private func frames(_ channel: EmbeddedChannel) throws -> [(type: UInt8, stream: UInt32)] {
        var bytes: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        var result: [(UInt8, UInt32)] = []
        var index = 0
        while index + 9 <= bytes.count {
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            let stream = bytes[index + 5..<index + 9].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
            result.append((bytes[index + 3], stream))
            index += 9 + length
        }
        return result
    }

    @Test func partsGoToTheReceiverAndResponsesWrittenDirectlyBecomeFrames() throws {
        let handler = HTTP2ServerHandler()
        let recorder = Recorder()
        handler.receiver = recorder
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        var bytes = HTTP2FrameBytes.clientStart
        // GET / on stream 1, END_STREAM|END_HEADERS (HPACK: :method GET, :scheme https, :path /,
        // :authority a).
        bytes += HTTP2FrameBytes.frame(type: 0x1, flags: 0x5, stream: 1, payload: [0x82, 0x87, 0x84, 0x41, 0x01, 0x61])
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        _ = try frames(channel)

        #expect(try channel.readInbound(as: TaggedRequestPart.self) == nil, "nothing went through the pipeline")
        #expect(recorder.parts.count == 2)
        if case .head(let head)? = recorder.parts.first?.1 {
            #expect(head.uri == "/" && head.method == .GET)
        } else {
            Issue.record("the first part is not the head: \(recorder.parts)")
        }
        if case .end? = recorder.parts.last?.1 {} else { Issue.record("the last part is not the end") }
        #expect(recorder.parts.allSatisfy { $0.0 == HTTPStreamID(1) })

        handler.writeResponse(.head(HTTPResponseHead(version: .http2, status: .noContent)), stream: HTTPStreamID(1), promise: nil)
        handler.writeResponse(.end(nil), stream: HTTPStreamID(1), promise: nil)
        channel.flush()
        #expect(try frames(channel).contains { $0.type == 0x1 && $0.stream == 1 }, "a HEADERS frame on stream 1")

        _ = try? channel.finish()
        #expect(handler.receiver == nil, "the link ends with the pipeline")
    }
}
