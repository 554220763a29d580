import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import GatehouseHTTP1

/// Drives `ByteToMessageHandler(HTTP1RequestDecoder())` in an EmbeddedChannel.
struct DecoderHarness {
    let channel: EmbeddedChannel

    init(limits: HTTP1RequestDecoder.Limits = .init()) {
        channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTP1RequestDecoder(limits: limits)))
    }

    /// Feeds one read and returns the parts it produced.
    func feed(_ buffer: ByteBuffer) throws -> [HTTPServerRequestPart] {
        try channel.writeInbound(buffer)
        return try drain()
    }

    func feed(_ text: String) throws -> [HTTPServerRequestPart] { try feed(ByteBuffer(string: text)) }

    func drain() throws -> [HTTPServerRequestPart] {
        var parts: [HTTPServerRequestPart] = []
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        return parts
    }

    /// Ends the input (EOF); throws what `decodeLast` threw.
    func finish() throws -> [HTTPServerRequestPart] {
        _ = try channel.finish(acceptAlreadyClosed: true)
        return try drain()
    }
}

/// Decodes `chunks` as successive reads, then EOF, and returns every part.
func decodeAll(_ chunks: [String], limits: HTTP1RequestDecoder.Limits = .init()) throws -> [HTTPServerRequestPart] {
    try decodeAll(chunks.map { Array($0.utf8) }, limits: limits)
}

func decodeAll(_ chunks: [[UInt8]], limits: HTTP1RequestDecoder.Limits = .init()) throws -> [HTTPServerRequestPart] {
    let harness = DecoderHarness(limits: limits)
    var parts: [HTTPServerRequestPart] = []
    for chunk in chunks { parts += try harness.feed(ByteBuffer(bytes: chunk)) }
    parts += try harness.finish()
    return parts
}

/// The error decoding `text` (as one read, then EOF) raises, or nil.
func decoderError(_ text: String, limits: HTTP1RequestDecoder.Limits = .init()) -> HTTP1DecoderError? {
    do {
        _ = try decodeAll([text], limits: limits)
        return nil
    } catch let error as HTTP1DecoderError {
        return error
    } catch {
        return HTTP1DecoderError(.invalidRequestLine, "unexpected error type: \(error)")
    }
}

/// A comparable transcript of parts: adjacent body pieces merged, so different read splits compare equal.
func transcript(_ parts: [HTTPServerRequestPart]) -> [String] {
    var lines: [String] = []
    for part in parts {
        switch part {
        case .head(let head):
            let fields = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: "|")
            lines.append("head \(head.method.rawValue) \(head.uri) \(head.version) [\(fields)]")
        case .body(let buffer):
            let text = String(buffer: buffer)
            if let last = lines.last, last.hasPrefix("body ") {
                lines[lines.count - 1] = last + text
            } else {
                lines.append("body " + text)
            }
        case .end(let trailers):
            lines.append("end [\(trailers.map { $0.map { "\($0.name)=\($0.value)" }.joined(separator: "|") } ?? "none")]")
        }
    }
    return lines
}

/// The concatenated body bytes among `parts`.
func bodyText(_ parts: [HTTPServerRequestPart]) -> String {
    parts.compactMap { if case .body(let buffer) = $0 { return String(buffer: buffer) } else { return nil } }.joined()
}

/// The heads among `parts`.
func heads(_ parts: [HTTPServerRequestPart]) -> [HTTPRequestHead] {
    parts.compactMap { if case .head(let head) = $0 { return head } else { return nil } }
}

/// How many `.end` parts there are.
func endCount(_ parts: [HTTPServerRequestPart]) -> Int {
    parts.filter { if case .end = $0 { return true } else { return false } }.count
}
