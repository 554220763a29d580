import NIOCore

/// Progress through a field section (request head or trailers) that has not fully arrived.
struct SectionScan {
    /// The offset, from the reader index, of the first line not yet seen complete.
    var offset = 0
    /// Complete non-empty lines before `offset` (the request line counts as one).
    var lines = 0
    /// How far (from the reader index) the incomplete line has been searched for its LF: a client
    /// sending a long line a byte at a time must not make each read rescan the whole line.
    var searched = 0
}

/// Which field section is being scanned; they have different limits.
enum SectionKind {
    case head
    case trailers
}

extension HTTP1RequestDecoder {
    /// Finds the blank line that ends a field section, checking line endings and size limits on the
    /// way: one memchr per line, so the head's bytes are touched once here and once when parsed.
    ///
    /// - Returns: the offset just past the blank line's CRLF, or nil when it has not arrived yet
    ///   (then `scan` remembers how far the complete lines go).
    static func findSectionEnd(
        _ base: UnsafePointer<UInt8>, count: Int, scan: inout SectionScan,
        kind: SectionKind, limits: Limits
    ) throws -> Int? {
        let maxTotal = kind == .head ? limits.maxHeadBytes : limits.maxTrailerBytes
        // In the head the request line is a line too; field lines are limited separately.
        let maxLines = kind == .head ? limits.maxFieldCount + 1 : limits.maxFieldCount
        var lineStart = scan.offset
        var searchFrom = max(scan.searched, lineStart)
        while true {
            guard let found = HTTP1Bytes.find(HTTP1Bytes.lf, in: base + searchFrom, count: count - searchFrom) else {
                // The line's CR may already be here with its LF still to come: allow one byte more.
                if count - lineStart > limits.maxFieldLineBytes + 1 {
                    throw lineTooLong(kind: kind, isRequestLine: kind == .head && scan.lines == 0, limits: limits)
                }
                if count > maxTotal { throw sectionTooLarge(kind: kind, limit: maxTotal) }
                scan.offset = lineStart
                scan.searched = count
                return nil
            }
            let lf = searchFrom + found
            guard lf > lineStart, base[lf - 1] == HTTP1Bytes.cr else {
                throw HTTP1DecoderError(.bareLF, "a line ends in LF without CR: '\(HTTP1Bytes.quote(base + lineStart, lf - lineStart))'")
            }
            let length = lf - 1 - lineStart
            if length == 0 { return lf + 1 }
            if length > limits.maxFieldLineBytes {
                throw lineTooLong(kind: kind, isRequestLine: kind == .head && scan.lines == 0, limits: limits)
            }
            if lf + 1 > maxTotal { throw sectionTooLarge(kind: kind, limit: maxTotal) }
            scan.lines += 1
            if scan.lines > maxLines {
                throw HTTP1DecoderError(
                    .tooManyFields,
                    "more than \(limits.maxFieldCount) field lines"
                        + (kind == .trailers ? " in the trailers" : ""))
            }
            lineStart = lf + 1
            searchFrom = lineStart
        }
    }

    static func lineTooLong(kind: SectionKind, isRequestLine: Bool, limits: Limits) -> HTTP1DecoderError {
        if isRequestLine {
            return HTTP1DecoderError(.requestLineTooLong, "the request line is longer than \(limits.maxFieldLineBytes) bytes")
        }
        return HTTP1DecoderError(
            .fieldLineTooLong,
            (kind == .head ? "a header" : "a trailer")
                + " line is longer than \(limits.maxFieldLineBytes) bytes")
    }

    static func sectionTooLarge(kind: SectionKind, limit: Int) -> HTTP1DecoderError {
        HTTP1DecoderError(
            .headTooLarge,
            (kind == .head ? "the request head" : "the trailer section")
                + " is larger than \(limit) bytes")
    }

    /// Parses one field line (without its CRLF) into the name's length and the value's bounds
    /// (surrounding whitespace excluded). The name is a token (ASCII); the value is checked for
    /// control characters and, when it has bytes above 0x7F, for well-formed UTF-8.
    @inline(__always)
    static func parseFieldLine(_ line: UnsafePointer<UInt8>, _ count: Int) throws -> (nameLength: Int, valueStart: Int, valueEnd: Int) {
        var index = 0
        while index < count, HTTP1Bytes.isToken(line[index]) { index += 1 }
        guard index > 0, index < count, line[index] == HTTP1Bytes.colon else {
            throw fieldLineError(line, count, stoppedAt: index)
        }
        var start = index + 1
        while start < count, HTTP1Bytes.isWhitespace(line[start]) { start += 1 }
        var end = count
        while end > start, HTTP1Bytes.isWhitespace(line[end - 1]) { end -= 1 }
        // Eight bytes at a time while none is a control character or DEL (HTAB, rare, takes the
        // byte-wise path below), then byte by byte for the rest and for the word that needs a look.
        // The bytes are OR-ed together on the way, so the common all-ASCII value is known to be
        // valid UTF-8 without a second pass; only a value with a byte above 0x7F is validated.
        var scan = start
        var seen: UInt64 = 0
        while scan + 8 <= end {
            let word = UnsafeRawPointer(line + scan).loadUnaligned(as: UInt64.self)
            if HTTP1Bytes.mayHoldControl(word) { break }
            seen |= word
            scan += 8
        }
        while scan < end {
            let byte = line[scan]
            guard HTTP1Bytes.isFieldValueByte(byte) else {
                let name = HTTP1Bytes.quote(line, index)
                if byte == HTTP1Bytes.cr {
                    throw HTTP1DecoderError(.bareCR, "field '\(name)' has a CR not followed by LF in its value")
                }
                throw HTTP1DecoderError(
                    .invalidFieldValue,
                    "field '\(name)' has a control character "
                        + "(0x\(String(byte, radix: 16))) in its value")
            }
            seen |= UInt64(byte)
            scan += 1
        }
        // The decoder hands values on as Strings, which would replace malformed UTF-8 with U+FFFD:
        // refuse instead, so the backend sees exactly what the client sent or nothing at all.
        if HTTP1Bytes.holdsNonASCII(seen), !HTTP1Bytes.isValidUTF8(line + start, end - start) {
            throw HTTP1DecoderError(
                .invalidUTF8,
                "field '\(HTTP1Bytes.quote(line, index))' has bytes above 0x7F "
                    + "that are not valid UTF-8 in its value")
        }
        return (index, start, end)
    }

    /// The error for a field line whose name did not end in a colon at `stoppedAt`.
    static func fieldLineError(_ line: UnsafePointer<UInt8>, _ count: Int, stoppedAt index: Int) -> HTTP1DecoderError {
        let shown = HTTP1Bytes.quote(line, count)
        if HTTP1Bytes.isWhitespace(line[0]) {
            return HTTP1DecoderError(.obsoleteLineFolding, "a field line starts with whitespace (obsolete line folding): '\(shown)'")
        }
        if index == count {
            return HTTP1DecoderError(.invalidFieldName, "a field line has no ':': '\(shown)'")
        }
        if index == 0 {
            return HTTP1DecoderError(.invalidFieldName, "a field line has an empty or invalid name: '\(shown)'")
        }
        switch line[index] {
        case HTTP1Bytes.space, HTTP1Bytes.tab:
            return HTTP1DecoderError(.whitespaceBeforeColon, "whitespace between a field name and its colon: '\(shown)'")
        case HTTP1Bytes.cr:
            return HTTP1DecoderError(.bareCR, "a CR not followed by LF in field line '\(shown)'")
        default:
            return HTTP1DecoderError(.invalidFieldName, "a field name holds a character that is not allowed in a token: '\(shown)'")
        }
    }
}
