import NIOHTTP1

/// Recognises the authentication schemes that authenticate a TCP connection rather than a request:
/// NTLM, and Negotiate (Kerberos, or NTLM inside SPNEGO). A backend connection that carried one of
/// them belongs to one client connection for the rest of its life; it must never serve anyone else.
///
/// The one place both protocols ask (HTTP/1.1 pins the backend connection, HTTP/2 refuses the
/// request with HTTP_1_1_REQUIRED), so the two can never disagree about what counts.
public enum ConnectionAuthentication {
    /// Whether one `Authorization` or `WWW-Authenticate` field value names a connection-bound scheme.
    ///
    /// The scheme is the token before the first space or tab (RFC 9110 11.4 allows either as BWS
    /// in practice; IIS accepts a tab), compared without regard to case: `NTLM`, `ntlm`,
    /// `Negotiate`, `NEGOTIATE`, each alone or followed by credentials. Leading whitespace and a
    /// challenge list (`Negotiate, NTLM`) are handled too.
    public static func isConnectionBound(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < value.count {
            // Skip separators before a scheme: list commas and whitespace.
            while index < value.count, value[index] == space || value[index] == tab || value[index] == comma {
                index += 1
            }
            let start = index
            while index < value.count, value[index] != space, value[index] != tab, value[index] != comma {
                index += 1
            }
            if matches(value, start..<index, "ntlm") || matches(value, start..<index, "negotiate") { return true }
            // Only a WWW-Authenticate challenge list has further schemes, after a comma; the
            // credentials that follow a scheme (a token68) contain no comma.
            while index < value.count, value[index] != comma { index += 1 }
        }
        return false
    }

    /// `isConnectionBound` on a String.
    public static func isConnectionBound(_ value: String) -> Bool {
        var copy = value
        return copy.withUTF8 { isConnectionBound($0) }
    }

    /// Whether any field called `name` (e.g. `authorization`, `www-authenticate`) in `headers`
    /// names a connection-bound scheme. Every line counts, not only the first.
    public static func anyConnectionBound(_ headers: HTTPHeaders, name: String) -> Bool {
        for (field, value) in headers where field.utf8.count == name.utf8.count {
            let sameName = field.utf8.elementsEqual(name.utf8) { byte, lower in
                (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == lower
            }
            if sameName, isConnectionBound(value) { return true }
        }
        return false
    }

    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")
    private static let comma = UInt8(ascii: ",")

    /// Case-insensitive comparison of `value[range]` with a lower-case ASCII literal.
    private static func matches(_ value: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        // The literals are letters only, so folding bit 0x20 is an exact case-insensitive compare.
        for offset in 0..<range.count where value[range.lowerBound + offset] | 0x20 != expected[offset] {
            return false
        }
        return true
    }
}
