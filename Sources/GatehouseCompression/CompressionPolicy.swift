/// A route's response-compression settings (a plain value; the configuration layer fills it in).
///
/// `decide(request:response:)` (in CompressionPolicy+Decision.swift) turns it plus the facts of one
/// request/response into a `CompressionDecision`.
public struct CompressionPolicy: Sendable, Hashable {
    /// Whether this route compresses responses at all.
    public var enabled: Bool
    /// zlib level 1...9 (0 would store, which only adds framing). 6 is zlib's default balance.
    public var level: Int
    /// Responses whose `Content-Length` is below this many bytes are sent as they are: the gzip
    /// framing (18 bytes) and CPU cost outweigh the saving. Responses of unknown length
    /// (chunked, streaming) are compressed regardless.
    public var minSize: Int
    /// Media types to compress: `type/subtype`, `type/*` or `*/*`, case-insensitive; parameters
    /// (`; charset=utf-8`) are ignored on both sides.
    public var types: [String]

    /// Text-like types Exchange services return: OWA/ECP pages and scripts, EWS/Autodiscover XML
    /// and SOAP, JSON, ActiveSync WBXML. Not included: images other than SVG, `application/octet-stream`
    /// (OAB `.lzx` files are already compressed), MAPI/HTTP's `application/mapi-http`.
    public static let defaultTypes: [String] = [
        "text/*",
        "application/xml",
        "application/json",
        "application/javascript",
        "application/x-javascript",
        "text/javascript",
        "application/soap+xml",
        "application/vnd.ms-sync.wbxml",
        "image/svg+xml"
    ]

    /// Creates a policy; the defaults are the recommended settings for Exchange routes.
    public init(enabled: Bool = true, level: Int = 6, minSize: Int = 1024, types: [String] = CompressionPolicy.defaultTypes) {
        self.enabled = enabled
        self.level = level
        self.minSize = minSize
        self.types = types
    }

    /// A policy that never compresses.
    public static let disabled = CompressionPolicy(enabled: false)

    /// Whether a response with this `Content-Type` value is compressible under `types`.
    /// Allocation-free.
    public func isCompressible(contentType: String) -> Bool {
        ASCII.withBytes(contentType) { value in
            let mediaType = Self.mediaType(value)
            guard !mediaType.isEmpty else { return false }
            for pattern in types {
                let matched = ASCII.withBytes(pattern) { Self.matches(mediaType, pattern: Self.mediaType($0)) }
                if matched { return true }
            }
            return false
        }
    }

    /// The `type/subtype` part of a media type, without parameters and whitespace.
    private static func mediaType(_ value: ASCII.Bytes) -> ASCII.Bytes {
        let end = value.firstIndex(of: UInt8(ascii: ";")) ?? value.endIndex
        return ASCII.trimmed(value[..<end])
    }

    /// Matches `type/subtype` against `type/subtype`, `type/*` or `*/*`.
    private static func matches(_ mediaType: ASCII.Bytes, pattern: ASCII.Bytes) -> Bool {
        if ASCII.equalsIgnoringCase(pattern, "*/*") { return true }
        if pattern.count >= 2 && ASCII.hasSuffixIgnoringCase(pattern, "/*") {
            // "text/*": the media type must start with "text/" and have a subtype.
            let prefix = pattern.dropLast()  // "text/"
            return mediaType.count > prefix.count
                && ASCII.equalsIgnoringCase(mediaType.prefix(prefix.count), prefix)
        }
        return ASCII.equalsIgnoringCase(mediaType, pattern)
    }
}
