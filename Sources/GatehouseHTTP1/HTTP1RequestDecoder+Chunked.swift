import NIOCore
import NIOHTTP1

extension HTTP1RequestDecoder {
    /// Takes a chunk-size line (`1*HEXDIG [ chunk-ext ] CRLF`) off `buffer` and returns the size, or
    /// nil when the line has not fully arrived. Extensions are checked for control characters and
    /// otherwise ignored.
    mutating func takeChunkSizeLine(_ buffer: inout ByteBuffer) throws -> UInt64? {
        let maxLine = limits.maxChunkLineBytes
        let parsed: (size: UInt64, length: Int)? = try buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            // Look no further than the limit: a client cannot make us scan (or wait for) more.
            let window = min(raw.count, maxLine + 2)
            guard let lf = HTTP1Bytes.find(HTTP1Bytes.lf, in: base, count: window) else {
                if raw.count >= maxLine + 2 {
                    throw HTTP1DecoderError(.chunkLineTooLong, "a chunk-size line is longer than \(maxLine) bytes")
                }
                return nil
            }
            guard lf > 0, base[lf - 1] == HTTP1Bytes.cr else {
                throw HTTP1DecoderError(.bareLF, "a chunk-size line ends in LF without CR")
            }
            return (try Self.parseChunkSize(base, lf - 1), lf + 1)
        }
        guard let parsed else { return nil }
        buffer.moveReaderIndex(forwardBy: parsed.length)
        return parsed.size
    }

    /// Parses a chunk-size line's content (without CRLF).
    static func parseChunkSize(_ line: UnsafePointer<UInt8>, _ count: Int) throws -> UInt64 {
        var index = 0
        var size: UInt64 = 0
        while index < count, let digit = HTTP1Bytes.hexValue(line[index]) {
            // Keep sizes within Int64, as Content-Length: no wrap-around into a small number.
            guard size <= UInt64(Int64.max) >> 4 else {
                throw HTTP1DecoderError(.chunkSizeOverflow, "chunk size '\(HTTP1Bytes.quote(line, count))' does not fit in 63 bits")
            }
            size = size << 4 | digit
            index += 1
        }
        guard index > 0 else {
            throw HTTP1DecoderError(.invalidChunkSize, "invalid chunk size '\(HTTP1Bytes.quote(line, count))'")
        }
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): whitespace only before a ';'.
        var extensionStart = index
        while extensionStart < count, HTTP1Bytes.isWhitespace(line[extensionStart]) { extensionStart += 1 }
        if extensionStart == count {
            guard extensionStart == index else {
                throw HTTP1DecoderError(.invalidChunkSize, "chunk size '\(HTTP1Bytes.quote(line, count))' has trailing whitespace")
            }
            return size
        }
        guard line[extensionStart] == HTTP1Bytes.semicolon else {
            if line[extensionStart] == HTTP1Bytes.cr {
                throw HTTP1DecoderError(.bareCR, "a CR not followed by LF in a chunk-size line")
            }
            throw HTTP1DecoderError(.invalidChunkSize, "invalid chunk size '\(HTTP1Bytes.quote(line, count))'")
        }
        for offset in extensionStart..<count where !HTTP1Bytes.isFieldValueByte(line[offset]) {
            if line[offset] == HTTP1Bytes.cr {
                throw HTTP1DecoderError(.bareCR, "a CR not followed by LF in a chunk extension")
            }
            throw HTTP1DecoderError(.invalidChunkSize, "a chunk extension holds a control character")
        }
        return size
    }

    /// What taking a trailer section gave.
    enum TrailerResult {
        case needMoreData
        case complete(HTTPHeaders?)
    }

    /// Takes the trailer section after the last chunk, up to and including its blank line.
    mutating func takeTrailers(_ buffer: inout ByteBuffer) throws -> TrailerResult {
        // The usual case: no trailers, just the final CRLF.
        if sectionScan.offset == 0, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            return .complete(nil)
        }
        let limits = self.limits
        var scan = sectionScan
        let parsed: (trailers: HTTPHeaders, length: Int)? = try buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            guard let end = try Self.findSectionEnd(base, count: raw.count, scan: &scan, kind: .trailers, limits: limits) else {
                return nil
            }
            return (try Self.parseTrailers(base, count: end, fieldCount: scan.lines), end)
        }
        guard let parsed else {
            sectionScan = scan
            return .needMoreData
        }
        sectionScan = SectionScan()
        buffer.moveReaderIndex(forwardBy: parsed.length)
        return .complete(parsed.trailers.isEmpty ? nil : parsed.trailers)
    }

    /// Parses a complete trailer section. Fields that must not be trailers because they frame or
    /// route the message (Content-Length, Transfer-Encoding, Host: RFC 9110 6.5.1) are dropped, so
    /// that nothing downstream can mistake them for the real ones.
    static func parseTrailers(_ base: UnsafePointer<UInt8>, count: Int, fieldCount: Int) throws -> HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(fieldCount)
        var lineStart = 0
        while true {
            let line = base + lineStart
            let lineEnd = lineStart + HTTP1Bytes.find(HTTP1Bytes.lf, in: line, count: count - lineStart)! - 1
            if lineEnd == lineStart { break }
            let (nameLength, valueStart, valueEnd) = try parseFieldLine(line, lineEnd - lineStart)
            lineStart = lineEnd + 2
            if HTTP1Bytes.tokenEqualsLowercase(line, nameLength, "content-length")
                || HTTP1Bytes.tokenEqualsLowercase(line, nameLength, "transfer-encoding")
                || HTTP1Bytes.tokenEqualsLowercase(line, nameLength, "host")
            {
                continue
            }
            // Lossless: the name is a token (ASCII) and `parseFieldLine` refused malformed UTF-8.
            fields.append(
                (
                    String(decoding: UnsafeBufferPointer(start: line, count: nameLength), as: UTF8.self),
                    String(decoding: UnsafeBufferPointer(start: line + valueStart, count: valueEnd - valueStart), as: UTF8.self)
                ))
        }
        return HTTPHeaders(fields)
    }
}
