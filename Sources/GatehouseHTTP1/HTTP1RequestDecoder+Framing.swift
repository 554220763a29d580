import NIOHTTP1

/// The framing fields of a head, collected while its field lines are parsed (so the fields are not
/// searched again afterwards), then resolved into how the body is delimited (RFC 9112 6.3).
struct FramingFields {
    /// The Content-Length, once one has been seen (repeats must be identical).
    var contentLength: UInt64?
    /// Transfer codings seen over all Transfer-Encoding lines.
    var transferCodings = 0
    /// Whether every transfer coding seen was `chunked`.
    var onlyChunked = true

    /// Takes note of one field if it is Content-Length or Transfer-Encoding.
    @inline(__always)
    mutating func note(name: UnsafePointer<UInt8>, nameLength: Int, value: UnsafeBufferPointer<UInt8>) throws {
        switch nameLength {
        case 14 where HTTP1Bytes.tokenEqualsLowercase(name, 14, "content-length"):
            try noteContentLength(value)
        case 17 where HTTP1Bytes.tokenEqualsLowercase(name, 17, "transfer-encoding"):
            noteTransferEncoding(value)
        default:
            break
        }
    }

    /// `Content-Length = 1*DIGIT`, possibly as a list of identical values (`5, 5`, RFC 9110 8.6).
    mutating func noteContentLength(_ value: UnsafeBufferPointer<UInt8>) throws {
        var elementStart = 0
        while true {
            let elementEnd = value[elementStart...].firstIndex(of: HTTP1Bytes.comma) ?? value.count
            var start = elementStart
            var end = elementEnd
            while start < end, HTTP1Bytes.isWhitespace(value[start]) { start += 1 }
            while end > start, HTTP1Bytes.isWhitespace(value[end - 1]) { end -= 1 }
            guard start < end else { throw Self.invalidContentLength(value) }
            var length: UInt64 = 0
            for index in start..<end {
                let digit = value[index] &- 0x30
                guard digit < 10 else { throw Self.invalidContentLength(value) }
                // Refuse anything past Int64.max: the proxy counts in Int64.
                guard length <= (UInt64(Int64.max) - UInt64(digit)) / 10 else { throw Self.invalidContentLength(value) }
                length = length * 10 + UInt64(digit)
            }
            if let contentLength, contentLength != length {
                throw HTTP1DecoderError(.conflictingContentLength, "Content-Length values \(contentLength) and \(length) differ")
            }
            contentLength = length
            if elementEnd == value.count { return }
            elementStart = elementEnd + 1
        }
    }

    /// Counts the codings of a Transfer-Encoding line and whether they are all `chunked`.
    mutating func noteTransferEncoding(_ value: UnsafeBufferPointer<UInt8>) {
        var elementStart = 0
        while true {
            let elementEnd = value[elementStart...].firstIndex(of: HTTP1Bytes.comma) ?? value.count
            var start = elementStart
            var end = elementEnd
            while start < end, HTTP1Bytes.isWhitespace(value[start]) { start += 1 }
            while end > start, HTTP1Bytes.isWhitespace(value[end - 1]) { end -= 1 }
            transferCodings += 1
            let isChunked = end - start == 7 && zip(value[start..<end], "chunked".utf8).allSatisfy { $0 | 0x20 == $1 }
            if !isChunked { onlyChunked = false }
            if elementEnd == value.count { return }
            elementStart = elementEnd + 1
        }
    }

    /// How the body is delimited, or the error that makes the framing ambiguous.
    func resolve(version: HTTPVersion, fields: [(String, String)]) throws -> HTTP1RequestDecoder.Framing {
        if transferCodings > 0 {
            guard contentLength == nil else {
                throw HTTP1DecoderError(
                    .contentLengthAndTransferEncoding,
                    "both Transfer-Encoding and Content-Length are present (request smuggling shape)")
            }
            guard transferCodings == 1, onlyChunked, version == .http1_1 else {
                let values = fields.filter { $0.0.lowercased() == "transfer-encoding" }.map(\.1)
                throw HTTP1DecoderError(
                    .unsupportedTransferEncoding,
                    "Transfer-Encoding '\(values.joined(separator: ", "))' "
                        + "is refused: only a single 'chunked', on HTTP/1.1")
            }
            return .chunked
        }
        guard let contentLength, contentLength > 0 else { return .none }
        return .length(contentLength)
    }

    static func invalidContentLength(_ value: UnsafeBufferPointer<UInt8>) -> HTTP1DecoderError {
        HTTP1DecoderError(
            .invalidContentLength,
            "Content-Length '\(HTTP1Bytes.quote(value.baseAddress!, value.count))' "
                + "is not a decimal number below 2^63")
    }
}
