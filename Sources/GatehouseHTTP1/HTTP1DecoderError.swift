import NIOHTTP1

/// Why `HTTP1RequestDecoder` refused a request. The decoder stops at the first error; the connection
/// cannot be resynchronised, so whoever catches it answers (`status`) and closes.
public struct HTTP1DecoderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable, loggable reasons.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// The request line is not `method SP request-target SP HTTP-version`.
        case invalidRequestLine = "invalid_request_line"
        /// The method is empty or not an RFC 9110 token.
        case invalidMethod = "invalid_method"
        /// The request target is empty or holds a space, control character or non-ASCII byte.
        case invalidTarget = "invalid_target"
        /// A well-formed `HTTP/x.y` other than 1.0 and 1.1.
        case unsupportedVersion = "unsupported_version"
        /// The request line is longer than the field-line limit.
        case requestLineTooLong = "request_line_too_long"
        /// A field name that is empty or not a token, or a field line without a colon.
        case invalidFieldName = "invalid_field_name"
        /// Whitespace between a field name and its colon (RFC 9112 5.1 requires a 400).
        case whitespaceBeforeColon = "whitespace_before_colon"
        /// A field line starting with whitespace: obsolete line folding (RFC 9112 5.2).
        case obsoleteLineFolding = "obsolete_line_folding"
        /// A field value holding NUL, DEL or another control character other than HTAB.
        case invalidFieldValue = "invalid_field_value"
        /// A field value (header or trailer) with bytes above 0x7F that are not well-formed UTF-8:
        /// turned into a Swift `String` they would silently become U+FFFD, so what the backend saw
        /// would differ from what the client sent.
        case invalidUTF8 = "invalid_utf8"
        /// A CR not followed by LF.
        case bareCR = "bare_cr"
        /// An LF not preceded by CR (this decoder accepts only CRLF line endings).
        case bareLF = "bare_lf"
        /// One field line longer than the limit.
        case fieldLineTooLong = "field_line_too_long"
        /// The whole request head (or trailer section) larger than the limit.
        case headTooLarge = "head_too_large"
        /// More field lines than the limit.
        case tooManyFields = "too_many_fields"
        /// Both `Transfer-Encoding` and `Content-Length`: the classic smuggling set-up.
        case contentLengthAndTransferEncoding = "content_length_and_transfer_encoding"
        /// `Content-Length` values that differ.
        case conflictingContentLength = "conflicting_content_length"
        /// A `Content-Length` that is not a plain decimal number that fits in 63 bits.
        case invalidContentLength = "invalid_content_length"
        /// A `Transfer-Encoding` other than exactly one `chunked` on HTTP/1.1.
        case unsupportedTransferEncoding = "unsupported_transfer_encoding"
        /// A chunk-size line that is not hex digits, optionally followed by extensions.
        case invalidChunkSize = "invalid_chunk_size"
        /// A chunk size that does not fit in 63 bits.
        case chunkSizeOverflow = "chunk_size_overflow"
        /// A chunk-size line (with its extensions) longer than the limit.
        case chunkLineTooLong = "chunk_line_too_long"
        /// A chunk's data not followed by CRLF: the chunk size lied.
        case missingChunkTerminator = "missing_chunk_terminator"
        /// The connection ended inside a request head.
        case truncatedHead = "truncated_head"
        /// The connection ended inside a request body.
        case truncatedBody = "truncated_body"
    }

    /// Why the request was refused.
    public var reason: Reason
    /// What exactly was wrong, for logs and the simulator's error bodies (may quote a little of the request).
    public var message: String

    /// Creates an error.
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "malformed HTTP/1.1 request (\(reason.rawValue)): \(message)" }

    /// The status a server answers with: 431 for size limits on fields, 505 for an HTTP version it
    /// does not speak, 414 for an overlong request line, 400 for everything else.
    public var status: HTTPResponseStatus {
        switch reason {
        case .fieldLineTooLong, .headTooLarge, .tooManyFields: .requestHeaderFieldsTooLarge
        case .unsupportedVersion: .httpVersionNotSupported
        case .requestLineTooLong: .uriTooLong
        default: .badRequest
        }
    }

    /// The nearest `HTTPParserError`, which is what NIO's `HTTPServerPipelineHandler` understands:
    /// only errors of that type are held back until earlier pipelined responses are complete.
    /// `HTTP1ProtocolErrorHandler` turns `.headerOverflow` into 431 and `.invalidVersion` into 505,
    /// so keep those two for exactly the reasons `status` gives them.
    public var parserError: HTTPParserError {
        switch reason {
        case .invalidRequestLine: .invalidConstant
        case .invalidMethod: .invalidMethod
        case .invalidTarget, .requestLineTooLong: .invalidURL
        case .unsupportedVersion: .invalidVersion
        case .invalidFieldName, .whitespaceBeforeColon, .obsoleteLineFolding: .invalidHeaderToken
        case .invalidFieldValue, .invalidUTF8: .invalidCharactersUsed
        case .bareCR: .lfExpected
        case .bareLF: .invalidCharactersUsed
        case .fieldLineTooLong, .headTooLarge, .tooManyFields: .headerOverflow
        case .contentLengthAndTransferEncoding: .unexpectedContentLength
        case .conflictingContentLength, .invalidContentLength: .invalidContentLength
        case .unsupportedTransferEncoding: .invalidConstant
        case .invalidChunkSize, .chunkSizeOverflow, .chunkLineTooLong, .missingChunkTerminator: .invalidChunkSize
        case .truncatedHead, .truncatedBody: .invalidEOFState
        }
    }
}
