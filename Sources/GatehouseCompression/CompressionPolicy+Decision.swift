extension CompressionPolicy {
    /// Decides whether to compress one response, and how its headers must change.
    ///
    /// Pure and allocation-light: only the edited header values (a merged Vary, a weakened ETag)
    /// are new strings. Checks run cheapest first; Accept-Encoding comes last so that a response
    /// that is otherwise compressible always gets `Vary: Accept-Encoding`.
    public func decide(request: CompressionRequestFacts, response: CompressionResponseFacts) -> CompressionDecision {
        guard enabled else { return .skip(.disabled) }
        if request.method == "HEAD" { return .skip(.headRequest) }
        if request.hasRange || response.status == 206 { return .skip(.rangeRequest) }
        if response.status < 200 || response.status == 204 || response.status == 205 || response.status == 304 {
            return .skip(.noContentStatus)
        }
        if let encoding = response.contentEncoding, ASCII.withBytes(encoding, { !ASCII.trimmed($0).isEmpty }) {
            return .skip(.alreadyEncoded)
        }
        if Self.hasNoTransform(request.cacheControl) || Self.hasNoTransform(response.cacheControl) {
            return .skip(.noTransform)
        }
        if let length = response.contentLength, length == 0 || length < minSize {
            return .skip(.tooSmall)
        }
        guard let contentType = response.contentType, isCompressible(contentType: contentType) else {
            return .skip(.typeNotCompressible)
        }
        if Self.isExcludedPath(request.path) { return .skip(.excludedPath) }

        let vary = Self.mergedVary(response.vary)
        guard let coding = AcceptEncoding.negotiate(request.acceptEncoding) else {
            return .skip(
                .notAcceptable,
                edits: CompressionHeaderEdits(
                    contentEncoding: nil, vary: vary, etag: .keep, removeContentLength: false, removeAcceptRanges: false))
        }
        return .compress(
            coding, level: level,
            edits: CompressionHeaderEdits(
                contentEncoding: coding.headerValue,
                vary: vary,
                etag: Self.weakenedETag(response.etag),
                removeContentLength: true,
                removeAcceptRanges: true))
    }

    /// Whether a Cache-Control value has the `no-transform` directive.
    static func hasNoTransform(_ cacheControl: String?) -> Bool {
        guard let cacheControl else { return false }
        return ASCII.withBytes(cacheControl) { ASCII.listContains($0, name: "no-transform") }
    }

    /// Whether the path (before any query) ends in `.lzx`: Offline Address Book files are LZX
    /// compressed already, and some are hundreds of MB.
    static func isExcludedPath(_ path: String) -> Bool {
        ASCII.withBytes(path) { bytes in
            let end = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex
            return ASCII.hasSuffixIgnoringCase(bytes[..<end], ".lzx")
        }
    }

    /// The Vary value to set so it includes Accept-Encoding, or nil when the existing one already
    /// covers it (`*`, or Accept-Encoding listed).
    static func mergedVary(_ existing: String?) -> String? {
        guard let existing else { return "Accept-Encoding" }
        let (isEmpty, covered) = ASCII.withBytes(existing) { bytes in
            (
                ASCII.trimmed(bytes).isEmpty,
                ASCII.listContains(bytes, name: "*") || ASCII.listContains(bytes, name: "accept-encoding")
            )
        }
        if isEmpty { return "Accept-Encoding" }
        if covered { return nil }
        return existing + ", Accept-Encoding"
    }

    /// How to change an ETag for a compressed body: strong `"x"` becomes weak `W/"x"`; weak stays;
    /// anything unparseable is removed rather than passed on as a strong validator.
    static func weakenedETag(_ etag: String?) -> ETagEdit {
        guard let etag else { return .keep }
        return ASCII.withBytes(etag) { raw in
            let value = ASCII.trimmed(raw)
            let quote = UInt8(ascii: "\"")
            // The W/ prefix is case-sensitive (RFC 9110 section 8.8.3).
            if value.count >= 4 && value.first == UInt8(ascii: "W") && value.dropFirst().first == UInt8(ascii: "/") {
                let opaque = value.dropFirst(2)
                return opaque.first == quote && opaque.last == quote ? .keep : .remove
            }
            guard value.count >= 2, value.first == quote, value.last == quote else { return .remove }
            return .replace("W/" + String(decoding: value, as: UTF8.self))
        }
    }
}
