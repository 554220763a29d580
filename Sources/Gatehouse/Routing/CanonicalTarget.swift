import NIOHTTP1

/// A request target in the one form routing, deny rules and the backend all see.
///
/// Made once per request by `init(requestTarget:method:host:)`: the path is percent-decoded exactly
/// once, empty segments are merged, dot-segments are resolved (RFC 3986 5.2.4), and whatever could be
/// read two ways by the proxy and a backend is rejected. The backend receives `forwardTarget`, the
/// re-encoded canonical path, so it routes on exactly the path Gatehouse routed and filtered on.
public struct CanonicalTarget: Sendable, Hashable {
    /// Which request-target form (RFC 9112 3.2) the client sent.
    public enum Form: Sendable, Hashable {
        /// `/path?query`
        case origin
        /// `https://host/path?query` naming this request's own host; converted to origin form.
        case absolute
        /// `*`, for `OPTIONS *` only.
        case asterisk
    }

    /// The decoded, normalised path, original case (`/owa/auth/logon.aspx`); `*` for asterisk form.
    public let path: String
    /// `path` with ASCII letters lowered, for case-insensitive matching (Exchange paths are).
    public let lowercasedPath: String
    /// The raw query after `?` (not decoded: its encoding is the application's business), or nil
    /// when the target had no `?`. An empty string means a bare trailing `?`.
    public let query: String?
    /// What to send to the backend: the canonical path re-encoded (RFC 3986 pchar) plus `?query`.
    public let forwardTarget: String
    /// The form the client used.
    public let form: Form

    /// Builds a target from parts that are already canonical (used by the parser and by tests).
    init(path: String, lowercasedPath: String, query: String?, forwardTarget: String, form: Form) {
        self.path = path
        self.lowercasedPath = lowercasedPath
        self.query = query
        self.forwardTarget = forwardTarget
        self.form = form
    }
}

/// Why a request target was refused. The proxy answers 400 and logs `reason.rawValue`.
public struct RequestTargetRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable, loggable reasons.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// Empty target.
        case empty = "empty_target"
        /// Neither origin, absolute (http/https) nor asterisk form (e.g. authority form, `owa/`).
        case unsupportedForm = "unsupported_form"
        /// `*` with a method other than OPTIONS.
        case asteriskNotOptions = "asterisk_not_options"
        /// Absolute form with userinfo, an empty or malformed authority.
        case malformedAuthority = "malformed_authority"
        /// Absolute form naming a host other than the request's Host header.
        case hostMismatch = "absolute_form_host_mismatch"
        /// `%2F` in the path: the backend could split segments where the proxy did not.
        case encodedSlash = "encoded_slash"
        /// `%5C` in the path: Windows backends treat `\` as a separator.
        case encodedBackslash = "encoded_backslash"
        /// A literal `\` in the target.
        case backslash = "backslash"
        /// `%00` anywhere in the target.
        case encodedNul = "encoded_nul"
        /// A raw control byte, space or DEL, or an encoded control byte in the path.
        case controlCharacter = "control_character"
        /// `%25` in the path (e.g. `%252e`): a second decoding would change the path.
        case doubleEncoding = "double_encoding"
        /// `%` not followed by two hex digits.
        case invalidPercentEncoding = "invalid_percent_encoding"
        /// A raw byte >= 0x80 (clients must percent-encode non-ASCII).
        case nonASCII = "non_ascii"
        /// The decoded path is not valid UTF-8.
        case invalidUTF8 = "invalid_utf8"
        /// A `#` in the target: fragments are never sent to servers.
        case fragment = "fragment"
        /// A path segment ending in `.` or space, which Windows silently strips (`/ecp./` = `/ecp/`).
        case trailingDotOrSpace = "segment_trailing_dot_or_space"
    }

    /// Why the target was refused.
    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String { "request target rejected: \(reason.rawValue)" }
}
