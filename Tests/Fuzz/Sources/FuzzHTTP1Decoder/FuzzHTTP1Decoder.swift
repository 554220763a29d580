import GatehouseHTTP1
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Fuzzes `HTTP1RequestDecoder` with the invariants a proxy's request parser must keep:
/// 1. the bytes decoded in one read and in small reads give the same requests and the same error
///    (the head and trailer scans resume mid-line, so split input is its own code path);
/// 2. every complete request re-serialised with the framing its headers declare (verbatim
///    Content-Length, or one chunk when chunked) decodes to exactly one request, with nothing left
///    over and no error, that equals the original: method, target, version, header count and
///    values, framing, body and trailers.
/// A violation traps, which libFuzzer reports as a crash with the input saved.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP1Decoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = Decoded(input, readSize: max(input.count, 1))
    let split = Decoded(input, readSize: 1 + input.count % 13)
    precondition(whole.requests == split.requests, "split reads decode to different requests")
    precondition(whole.error == split.error, "split reads fail differently: \(whole.error ?? "none") vs \(split.error ?? "none")")

    for request in whole.requests {
        let again = Decoded(request.serialised(), readSize: 1 << 20)
        precondition(again.error == nil, "a re-serialised request is refused: \(again.error!)")
        precondition(!again.pending, "a re-serialised request leaves bytes undecoded")
        precondition(again.requests == [request], "a re-serialised request decodes differently")
    }
    return 0
}

/// One complete request as the decoder delivered it.
struct Request: Equatable {
    var method: String
    var uri: String
    var version: HTTPVersion
    var headers: [String]
    var body: [UInt8] = []
    var trailers: [String]?

    /// How its headers frame the body (the decoder has already refused ambiguous framing).
    var isChunked: Bool { headers.contains { $0.lowercased().hasPrefix("transfer-encoding:") } }

    /// The request as bytes, with the framing its headers declare.
    func serialised() -> [UInt8] {
        var text = "\(method) \(uri) HTTP/\(version.major).\(version.minor)\r\n"
        for line in headers { text += line + "\r\n" }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if isChunked {
            if !body.isEmpty {
                bytes += Array((String(body.count, radix: 16) + "\r\n").utf8) + body + Array("\r\n".utf8)
            }
            bytes += Array("0\r\n".utf8)
            for line in trailers ?? [] { bytes += Array((line + "\r\n").utf8) }
            bytes += Array("\r\n".utf8)
        } else {
            bytes += body
        }
        return bytes
    }
}

/// What the decoder makes of some bytes: the complete requests, the error it stopped on (if any),
/// and whether a request was still open at the end.
struct Decoded {
    var requests: [Request] = []
    var error: String?
    var pending = false

    init(_ bytes: [UInt8], readSize: Int) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTP1RequestDecoder()))
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        var current: Request?
        var offset = 0
        reading: while offset < bytes.count {
            let end = min(offset + readSize, bytes.count)
            var buffer = channel.allocator.buffer(capacity: end - offset)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            do {
                try channel.writeInbound(buffer)
            } catch let failure as HTTP1DecoderError {
                error = failure.reason.rawValue
            } catch {
                self.error = "\(error)"
            }
            while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
                switch part {
                case .head(let head):
                    precondition(current == nil, "a head before the previous request's end")
                    current = Request(
                        method: head.method.rawValue, uri: head.uri, version: head.version,
                        headers: head.headers.map { "\($0.name): \($0.value)" })
                case .body(var slice):
                    precondition(current != nil, "a body part outside a request")
                    current!.body += slice.readBytes(length: slice.readableBytes)!
                case .end(let trailers):
                    precondition(current != nil, "an end outside a request")
                    current!.trailers = trailers.map { $0.map { "\($0.name): \($0.value)" } }
                    requests.append(current!)
                    current = nil
                }
            }
            if error != nil { break reading }
        }
        pending = current != nil
    }
}
