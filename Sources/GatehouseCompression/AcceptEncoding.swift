/// A request's `Accept-Encoding` preferences (RFC 9110 section 12.5.3), reduced to the codings
/// Gatehouse cares about: gzip (and its alias x-gzip), deflate, identity and `*`.
///
/// Parsing walks the header's bytes once and allocates nothing. Qualities are kept in
/// thousandths (0...1000), exactly the precision a qvalue can express, so no floating point.
///
/// Rules:
/// - A coding's quality is its own listing, else that of `*`, else 0 (not acceptable).
/// - The first valid listing of a coding counts; later repeats are ignored.
/// - A listing with a malformed weight (`q=2`, `q=0.1234`, `q=abc`, a parameter without `=`) is
///   ignored as a whole; other listings in the header still count. Parameters other than `q`
///   are ignored.
/// - Identity is acceptable unless `identity;q=0`, or `*;q=0` without an `identity` listing.
public struct AcceptEncoding: Sendable, Hashable {
    /// Quality in thousandths, or nil when the coding is not listed.
    private var gzip: Int?
    private var deflate: Int?
    private var identity: Int?
    private var wildcard: Int?

    /// Parses one `Accept-Encoding` field value. For several header lines, use
    /// `init(headerValues:)` (equivalent to joining them with commas).
    public init(_ headerValue: String) {
        ASCII.withBytes(headerValue) { parse($0) }
    }

    /// Parses every `Accept-Encoding` line of a request, in order.
    public init<Values: Sequence>(headerValues: Values) where Values.Element == String {
        for value in headerValues {
            ASCII.withBytes(value) { parse($0) }
        }
    }

    /// The quality of `coding` in thousandths: 0 means not acceptable, 1000 is the most preferred.
    public func quality(of coding: ContentCoding) -> Int {
        let listed =
            switch coding {
            case .gzip: gzip
            case .deflate: deflate
            }
        return listed ?? wildcard ?? 0
    }

    /// Whether the client accepts an uncompressed response.
    public var isIdentityAcceptable: Bool {
        if let identity { return identity > 0 }
        return wildcard.map { $0 > 0 } ?? true
    }

    /// The coding to use: the acceptable one with the higher quality, gzip when they tie,
    /// nil (identity) when neither gzip nor deflate is acceptable.
    public var preferredCoding: ContentCoding? {
        let gzipQuality = quality(of: .gzip)
        let deflateQuality = quality(of: .deflate)
        if gzipQuality == 0 && deflateQuality == 0 { return nil }
        return gzipQuality >= deflateQuality ? .gzip : .deflate
    }

    /// The coding for a request whose `Accept-Encoding` is `headerValue`.
    ///
    /// A missing header gives nil: RFC 9110 would allow any coding, but clients that can decode
    /// say so, and tools that send nothing (scripts, old probes) expect plain bodies.
    public static func negotiate(_ headerValue: String?) -> ContentCoding? {
        guard let headerValue else { return nil }
        return AcceptEncoding(headerValue).preferredCoding
    }

    // MARK: - Parsing

    /// Parses one field value: `#( codings [ OWS ";" OWS "q=" qvalue ] )`.
    private mutating func parse(_ bytes: ASCII.Bytes) {
        var index = bytes.startIndex
        let end = bytes.endIndex

        func skipWhitespace() {
            while index < end && ASCII.isWhitespace(bytes[index]) { index += 1 }
        }
        func token() -> ASCII.Bytes {
            let start = index
            while index < end && ASCII.isTokenChar(bytes[index]) { index += 1 }
            return bytes[start..<index]
        }

        while index < end {
            // Empty list elements (", ,") are allowed by the list syntax.
            while index < end && (ASCII.isWhitespace(bytes[index]) || bytes[index] == UInt8(ascii: ",")) {
                index += 1
            }
            if index == end { break }

            let name = token()
            var valid = !name.isEmpty
            var quality = 1000
            skipWhitespace()
            while valid && index < end && bytes[index] == UInt8(ascii: ";") {
                index += 1
                skipWhitespace()
                let parameter = token()
                skipWhitespace()
                guard !parameter.isEmpty, index < end, bytes[index] == UInt8(ascii: "=") else {
                    valid = false
                    break
                }
                index += 1
                skipWhitespace()
                let isQuality = ASCII.equalsIgnoringCase(parameter, "q")
                if index < end && bytes[index] == UInt8(ascii: "\"") {
                    // A quoted value: fine for an unknown parameter, malformed for q.
                    skipQuotedString()
                    if isQuality { valid = false }
                } else {
                    let value = token()
                    if isQuality {
                        if let parsed = Self.parseQuality(value) { quality = parsed } else { valid = false }
                    } else if value.isEmpty {
                        valid = false
                    }
                }
                skipWhitespace()
            }
            if index < end && bytes[index] != UInt8(ascii: ",") {
                valid = false  // junk after the element, e.g. "gzip deflate" or "gzip;q=0.5x"
            }
            // Skip to the end of this element (past any junk that made it invalid).
            while index < end && bytes[index] != UInt8(ascii: ",") { index += 1 }
            if valid { record(name, quality: quality) }
        }

        func skipQuotedString() {
            index += 1  // opening quote
            while index < end && bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                index += 1
            }
            if index < end { index += 1 }  // closing quote
        }
    }

    /// Stores the first listing of each coding we care about; other codings (br, zstd) are ignored.
    private mutating func record(_ name: ASCII.Bytes, quality: Int) {
        if ASCII.equalsIgnoringCase(name, "gzip") || ASCII.equalsIgnoringCase(name, "x-gzip") {
            if gzip == nil { gzip = quality }
        } else if ASCII.equalsIgnoringCase(name, "deflate") {
            if deflate == nil { deflate = quality }
        } else if ASCII.equalsIgnoringCase(name, "identity") {
            if identity == nil { identity = quality }
        } else if ASCII.equalsIgnoringCase(name, "*") {
            if wildcard == nil { wildcard = quality }
        }
    }

    /// Parses an RFC 9110 qvalue, `( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, into
    /// thousandths; nil when malformed.
    static func parseQuality(_ bytes: ASCII.Bytes) -> Int? {
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var value = first == UInt8(ascii: "1") ? 1000 : 0
        let rest = bytes.dropFirst()
        if rest.isEmpty { return value }
        guard rest.first == UInt8(ascii: "."), rest.count <= 4 else { return nil }
        var scale = 100
        for digit in rest.dropFirst() {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            let d = Int(digit - UInt8(ascii: "0"))
            if value == 1000 && d != 0 { return nil }  // "1.5" is not a qvalue
            value += d * scale
            scale /= 10
        }
        return value
    }
}
