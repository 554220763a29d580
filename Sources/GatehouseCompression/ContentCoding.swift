/// A content coding Gatehouse can produce (RFC 9110 section 8.4.1).
///
/// "deflate" is the zlib format (RFC 1950) wrapping a deflate stream, as RFC 9110 section 8.4.1.2
/// requires, not a raw deflate stream.
public enum ContentCoding: Sendable, Hashable, CaseIterable {
    /// The gzip file format (RFC 1952); zlib windowBits 31.
    case gzip
    /// The zlib format (RFC 1950); zlib windowBits 15.
    case deflate

    /// The token to put in `Content-Encoding`.
    public var headerValue: String {
        switch self {
        case .gzip: "gzip"
        case .deflate: "deflate"
        }
    }

    /// The zlib `windowBits` that selects this wrapper with the largest (32 KiB) window:
    /// 15 means zlib header and Adler-32 trailer, 15 + 16 means gzip header and CRC-32 trailer.
    var zlibWindowBits: Int32 {
        switch self {
        case .gzip: 31
        case .deflate: 15
        }
    }
}
