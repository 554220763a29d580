/// What the proxy knows about a request, as plain values, for `CompressionPolicy.decide`.
///
/// GatehouseCompression does not depend on NIOHTTP1: the proxy extracts these from its headers.
public struct CompressionRequestFacts: Sendable, Hashable {
    /// The request method, e.g. "GET" (methods are case-sensitive).
    public var method: String
    /// All `Accept-Encoding` lines joined with ", ", or nil when the request has none.
    public var acceptEncoding: String?
    /// Whether the request has a `Range` header.
    public var hasRange: Bool
    /// The request's `Cache-Control` (all lines joined with ", "), or nil; `no-transform` here
    /// also forbids compressing the response (RFC 9111 section 5.2.1.6).
    public var cacheControl: String?
    /// The request target's path (a query string, if present, is ignored).
    public var path: String

    /// Creates request facts.
    public init(method: String, acceptEncoding: String?, hasRange: Bool = false, cacheControl: String? = nil, path: String) {
        self.method = method
        self.acceptEncoding = acceptEncoding
        self.hasRange = hasRange
        self.cacheControl = cacheControl
        self.path = path
    }
}

/// What the proxy knows about a backend response, as plain values, for `CompressionPolicy.decide`.
public struct CompressionResponseFacts: Sendable, Hashable {
    /// The status code.
    public var status: Int
    /// `Content-Encoding` (all lines joined with ", "), or nil when absent.
    public var contentEncoding: String?
    /// `Content-Type`, or nil when absent.
    public var contentType: String?
    /// `Content-Length` when present and valid, nil for chunked or close-delimited bodies.
    public var contentLength: Int?
    /// `Cache-Control` (all lines joined with ", "), or nil.
    public var cacheControl: String?
    /// `ETag`, or nil.
    public var etag: String?
    /// `Vary` (all lines joined with ", "), or nil.
    public var vary: String?

    /// Creates response facts.
    public init(
        status: Int, contentEncoding: String? = nil, contentType: String?, contentLength: Int?,
        cacheControl: String? = nil, etag: String? = nil, vary: String? = nil
    ) {
        self.status = status
        self.contentEncoding = contentEncoding
        self.contentType = contentType
        self.contentLength = contentLength
        self.cacheControl = cacheControl
        self.etag = etag
        self.vary = vary
    }
}

/// Why a response is sent without compression; for debug logs and metrics labels.
public enum CompressionSkipReason: String, Sendable, Hashable {
    /// The route's policy is disabled.
    case disabled
    /// HEAD: there is no body, and the headers must match what GET would send uncompressed.
    case headRequest
    /// The request has `Range`, or the response is 206: byte ranges refer to the identity body.
    case rangeRequest
    /// 1xx, 204, 205 or 304: no content.
    case noContentStatus
    /// The backend already set a `Content-Encoding`: never compress twice.
    case alreadyEncoded
    /// `Cache-Control: no-transform` on the request or the response.
    case noTransform
    /// `Content-Length` is known and below the policy's `minSize` (or zero).
    case tooSmall
    /// No `Content-Type`, or one outside the policy's `types`.
    case typeNotCompressible
    /// The path names an already-compressed file (OAB `.lzx`).
    case excludedPath
    /// The client's `Accept-Encoding` allows neither gzip nor deflate.
    case notAcceptable
}

/// How the ETag header must change.
public enum ETagEdit: Sendable, Hashable {
    /// Leave it as it is (absent, or already weak).
    case keep
    /// Replace it with this value (a strong `"x"` becomes `W/"x"`: the compressed body is not
    /// byte-identical to what the strong validator names).
    case replace(String)
    /// Remove it (malformed, so it cannot be weakened safely).
    case remove
}

/// The response-header changes the proxy must make, described without any HTTP library type.
public struct CompressionHeaderEdits: Sendable, Hashable {
    /// Set `Content-Encoding` to this token, or leave it when nil.
    public var contentEncoding: String?
    /// Replace all `Vary` lines with this value, or leave them when nil.
    public var vary: String?
    /// What to do with `ETag`.
    public var etag: ETagEdit
    /// Remove `Content-Length`: the compressed length is not known in advance.
    public var removeContentLength: Bool
    /// Remove `Accept-Ranges`: ranges over the compressed body are not offered.
    public var removeAcceptRanges: Bool

    /// No changes.
    public static let none = CompressionHeaderEdits(
        contentEncoding: nil, vary: nil, etag: .keep, removeContentLength: false, removeAcceptRanges: false)

    /// Creates an edit description.
    public init(contentEncoding: String?, vary: String?, etag: ETagEdit, removeContentLength: Bool, removeAcceptRanges: Bool) {
        self.contentEncoding = contentEncoding
        self.vary = vary
        self.etag = etag
        self.removeContentLength = removeContentLength
        self.removeAcceptRanges = removeAcceptRanges
    }

    /// Whether there is nothing to change.
    public var isEmpty: Bool { self == .none }

    /// Applies the edits through two closures, so the proxy can use any header type, e.g.
    /// `edits.apply(set: { headers.replaceOrAdd(name: $0, value: $1) }, remove: { headers.remove(name: $0) })`.
    /// Removals come first; names are the canonical spellings.
    public func apply(set: (_ name: String, _ value: String) -> Void, remove: (_ name: String) -> Void) {
        if removeContentLength { remove("Content-Length") }
        if removeAcceptRanges { remove("Accept-Ranges") }
        if etag == .remove { remove("ETag") }
        if let contentEncoding { set("Content-Encoding", contentEncoding) }
        if let vary { set("Vary", vary) }
        if case .replace(let value) = etag { set("ETag", value) }
    }
}

/// The outcome of `CompressionPolicy.decide`: a coding (or nil for identity), the header edits
/// to apply in either case, and why not when not.
///
/// Even without compression the edits may add `Vary: Accept-Encoding`: when the only reason not
/// to compress is this client's `Accept-Encoding`, a shared cache must still know the response
/// depends on that header.
public struct CompressionDecision: Sendable, Hashable {
    /// The coding to apply, or nil to send the body unchanged.
    public var coding: ContentCoding?
    /// The zlib level to create the `Deflater` with (from the policy).
    public var level: Int
    /// Header changes to apply before sending the response head.
    public var headerEdits: CompressionHeaderEdits
    /// Why `coding` is nil; nil when compressing.
    public var skipReason: CompressionSkipReason?

    /// A decision to compress.
    static func compress(_ coding: ContentCoding, level: Int, edits: CompressionHeaderEdits) -> Self {
        CompressionDecision(coding: coding, level: level, headerEdits: edits, skipReason: nil)
    }

    /// A decision not to compress.
    static func skip(_ reason: CompressionSkipReason, edits: CompressionHeaderEdits = .none) -> Self {
        CompressionDecision(coding: nil, level: 0, headerEdits: edits, skipReason: reason)
    }
}
