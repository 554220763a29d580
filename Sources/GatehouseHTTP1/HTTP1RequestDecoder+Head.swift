import NIOCore
import NIOHTTP1

extension HTTP1RequestDecoder {
    /// Takes a complete request head off `buffer`, or returns nil when its blank line has not arrived.
    mutating func takeHead(_ buffer: inout ByteBuffer) throws -> (HTTPRequestHead, Framing)? {
        if sectionScan.offset == 0 {
            // RFC 9112 2.2: ignore empty lines before a request line (some clients send a CRLF after a body).
            while buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                buffer.moveReaderIndex(forwardBy: 2)
                sectionScan.searched = 0  // it counted from the old reader index
            }
        }
        let limits = self.limits
        var scan = sectionScan
        let parsed: (head: HTTPRequestHead, framing: Framing, length: Int)? = try buffer.withUnsafeReadableBytes { raw in
            // ByteBuffer's storage is plain bytes; viewing it as UInt8 for the duration of the call is safe.
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            guard let end = try Self.findSectionEnd(base, count: raw.count, scan: &scan, kind: .head, limits: limits) else {
                return nil
            }
            let (head, framing) = try Self.parseHead(base, count: end, fieldCount: scan.lines - 1)
            return (head, framing, end)
        }
        guard let parsed else {
            sectionScan = scan
            return nil
        }
        sectionScan = SectionScan()
        buffer.moveReaderIndex(forwardBy: parsed.length)
        return (parsed.head, parsed.framing)
    }

    /// Parses a complete head (`count` bytes ending with the blank line) whose line endings and sizes
    /// `findSectionEnd` has checked.
    static func parseHead(_ base: UnsafePointer<UInt8>, count: Int, fieldCount: Int) throws -> (HTTPRequestHead, Framing) {
        var lineEnd = HTTP1Bytes.find(HTTP1Bytes.lf, in: base, count: count)! - 1
        let (method, uri, version) = try parseRequestLine(base, lineEnd)
        var fields: [(String, String)] = []
        fields.reserveCapacity(fieldCount)
        var framing = FramingFields()
        var lineStart = lineEnd + 2
        while true {
            let line = base + lineStart
            lineEnd = lineStart + HTTP1Bytes.find(HTTP1Bytes.lf, in: line, count: count - lineStart)! - 1
            if lineEnd == lineStart { break }
            let (nameLength, valueStart, valueEnd) = try parseFieldLine(line, lineEnd - lineStart)
            let value = UnsafeBufferPointer(start: line + valueStart, count: valueEnd - valueStart)
            try framing.note(name: line, nameLength: nameLength, value: value)
            // Lossless: the name is a token (ASCII) and `parseFieldLine` refused malformed UTF-8.
            fields.append(
                (
                    String(decoding: UnsafeBufferPointer(start: line, count: nameLength), as: UTF8.self),
                    String(decoding: value, as: UTF8.self)
                ))
            lineStart = lineEnd + 2
        }
        let bodyFraming = try framing.resolve(version: version, fields: fields)
        return (HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(fields)), bodyFraming)
    }

    /// Parses `method SP request-target SP HTTP-version` (`count` bytes, without CRLF).
    static func parseRequestLine(_ line: UnsafePointer<UInt8>, _ count: Int) throws -> (HTTPMethod, String, HTTPVersion) {
        var methodEnd = 0
        while methodEnd < count, HTTP1Bytes.isToken(line[methodEnd]) { methodEnd += 1 }
        guard methodEnd > 0, methodEnd < count, line[methodEnd] == HTTP1Bytes.space else {
            throw requestLineError(line, count, at: methodEnd, methodEnd == 0 || methodEnd < count ? .invalidMethod : .invalidRequestLine)
        }
        let targetStart = methodEnd + 1
        var targetEnd = targetStart
        while targetEnd < count, HTTP1Bytes.isTargetByte(line[targetEnd]) { targetEnd += 1 }
        guard targetEnd > targetStart, targetEnd < count, line[targetEnd] == HTTP1Bytes.space else {
            throw requestLineError(
                line, count, at: targetEnd,
                targetEnd == targetStart || targetEnd == count ? .invalidRequestLine : .invalidTarget)
        }
        let version = try parseVersion(line + targetEnd + 1, count - targetEnd - 1, requestLine: line, count)
        let method = parseMethod(line, methodEnd)
        // Lossless: `isTargetByte` admits visible ASCII only, so no byte can turn into U+FFFD.
        let uri = String(decoding: UnsafeBufferPointer(start: line + targetStart, count: targetEnd - targetStart), as: UTF8.self)
        return (method, uri, version)
    }

    /// HTTP/1.1 or HTTP/1.0; another well-formed `HTTP/x.y` is `unsupportedVersion`.
    @inline(__always)
    static func parseVersion(_ text: UnsafePointer<UInt8>, _ count: Int, requestLine: UnsafePointer<UInt8>, _ lineCount: Int) throws
        -> HTTPVersion
    {
        let isHTTPxy =
            count == 8 && text[0] == UInt8(ascii: "H") && text[1] == UInt8(ascii: "T")
            && text[2] == UInt8(ascii: "T") && text[3] == UInt8(ascii: "P") && text[4] == UInt8(ascii: "/")
            && text[5] &- 0x30 < 10 && text[6] == UInt8(ascii: ".") && text[7] &- 0x30 < 10
        guard isHTTPxy else {
            throw requestLineError(requestLine, lineCount, at: lineCount - count, .invalidRequestLine)
        }
        switch (text[5], text[7]) {
        case (UInt8(ascii: "1"), UInt8(ascii: "1")): return .http1_1
        case (UInt8(ascii: "1"), UInt8(ascii: "0")): return .http1_0
        default:
            throw HTTP1DecoderError(
                .unsupportedVersion,
                "HTTP version '\(HTTP1Bytes.quote(text, count))' is not supported "
                    + "(only HTTP/1.1 and HTTP/1.0)")
        }
    }

    /// The method: common ones without making a String, any other token as `HTTPMethod(rawValue:)`
    /// (which gives `.RAW` for extension methods such as `RPC_IN_DATA`). Methods are case-sensitive.
    @inline(__always)
    static func parseMethod(_ text: UnsafePointer<UInt8>, _ count: Int) -> HTTPMethod {
        switch count {
        case 3:
            if text[1] == UInt8(ascii: "E"), text[2] == UInt8(ascii: "T") {
                if text[0] == UInt8(ascii: "G") { return .GET }
                if text[0] == UInt8(ascii: "P") { return .PUT }
            }
        case 4:
            if equals(text, "POST") { return .POST }
            if equals(text, "HEAD") { return .HEAD }
        default:
            break
        }
        return HTTPMethod(rawValue: String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
    }

    /// Whether the bytes at `text` start with `literal` (the caller has checked the length).
    @inline(__always)
    static func equals(_ text: UnsafePointer<UInt8>, _ literal: StaticString) -> Bool {
        let expected = literal.utf8Start
        for index in 0..<literal.utf8CodeUnitCount where text[index] != expected[index] { return false }
        return true
    }

    /// The error for a request line that went wrong at `index`.
    static func requestLineError(
        _ line: UnsafePointer<UInt8>, _ count: Int, at index: Int,
        _ reason: HTTP1DecoderError.Reason
    ) -> HTTP1DecoderError {
        let shown = HTTP1Bytes.quote(line, count, limit: 100)
        if HTTP1Bytes.find(HTTP1Bytes.cr, in: line, count: count) != nil {
            return HTTP1DecoderError(.bareCR, "a CR not followed by LF in the request line '\(shown)'")
        }
        switch reason {
        case .invalidMethod:
            return HTTP1DecoderError(.invalidMethod, "request line '\(shown)': the method is not a token")
        case .invalidTarget:
            return HTTP1DecoderError(
                .invalidTarget,
                "request line '\(shown)': the request target holds a space, "
                    + "control character or non-ASCII byte")
        default:
            return HTTP1DecoderError(.invalidRequestLine, "request line '\(shown)' is not 'METHOD TARGET HTTP/1.1'")
        }
    }
}
