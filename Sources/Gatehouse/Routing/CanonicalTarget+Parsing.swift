import NIOHTTP1

extension CanonicalTarget {
    /// Canonicalises a request target (the `uri` of an HTTP/1.1 request head, or `:path` on h2).
    ///
    /// - Parameters:
    ///   - requestTarget: the target exactly as received.
    ///   - method: the request method; only OPTIONS may use `*`.
    ///   - host: the request's Host header (or `:authority`); an absolute-form target must name it.
    /// - Throws: `RequestTargetRejection` saying why the target cannot be read unambiguously.
    public init(requestTarget: String, method: HTTPMethod, host: String?) throws(RequestTargetRejection) {
        var target = requestTarget
        let parsed = target.withUTF8 { bytes -> Result<CanonicalTarget, RequestTargetRejection> in
            Result { () throws(RequestTargetRejection) in
                try Self.parse(bytes, original: requestTarget, method: method, host: host)
            }
        }
        self = try parsed.get()
    }

    /// Splits off the form (origin / absolute / asterisk), then canonicalises path and query.
    private static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>, original: String, method: HTTPMethod, host: String?
    ) throws(RequestTargetRejection) -> CanonicalTarget {
        guard let first = bytes.first else { throw RequestTargetRejection(.empty) }
        if first == UInt8(ascii: "*") {
            guard bytes.count == 1 else { throw RequestTargetRejection(.unsupportedForm) }
            guard method == .OPTIONS else { throw RequestTargetRejection(.asteriskNotOptions) }
            return CanonicalTarget(path: "*", lowercasedPath: "*", query: nil, forwardTarget: "*", form: .asterisk)
        }
        if first == UInt8(ascii: "/") {
            return try canonicalise(bytes, originalOriginForm: original, form: .origin)
        }
        let originStart = try absoluteFormOriginStart(bytes, host: host)
        guard originStart < bytes.count else {
            // `https://host` with nothing after the authority means `/` (RFC 9112 3.2.2).
            return CanonicalTarget(path: "/", lowercasedPath: "/", query: nil, forwardTarget: "/", form: .absolute)
        }
        if bytes[originStart] == UInt8(ascii: "?") {
            // `https://host?q`: the path is empty, which means `/`; canonicalise `/` + query.
            var prefixed = [UInt8]()
            prefixed.reserveCapacity(bytes.count - originStart + 1)
            prefixed.append(UInt8(ascii: "/"))
            prefixed.append(contentsOf: bytes[originStart...])
            return try prefixed.withUnsafeBufferPointer { (buffer) throws(RequestTargetRejection) in
                try canonicalise(buffer, originalOriginForm: nil, form: .absolute)
            }
        }
        return try canonicalise(
            UnsafeBufferPointer(rebasing: bytes[originStart...]), originalOriginForm: nil, form: .absolute)
    }

    /// For `http(s)://authority/...`: checks the authority names `host` and returns where the
    /// origin-form part starts. Anything that is not absolute form is an unsupported form.
    private static func absoluteFormOriginStart(
        _ bytes: UnsafeBufferPointer<UInt8>, host: String?
    ) throws(RequestTargetRejection) -> Int {
        let schemeEnd: Int
        if hasPrefixIgnoringCase(bytes, "https://") {
            schemeEnd = 8
        } else if hasPrefixIgnoringCase(bytes, "http://") {
            schemeEnd = 7
        } else {
            throw RequestTargetRejection(.unsupportedForm)
        }
        var authorityEnd = schemeEnd
        while authorityEnd < bytes.count {
            let byte = bytes[authorityEnd]
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") { break }
            if byte == UInt8(ascii: "#") { throw RequestTargetRejection(.fragment) }
            if byte == UInt8(ascii: "\\") { throw RequestTargetRejection(.backslash) }
            // Userinfo (`https://mail.contoso.com@evil/`) is how URL-parser confusions start.
            if byte == UInt8(ascii: "@") { throw RequestTargetRejection(.malformedAuthority) }
            authorityEnd += 1
        }
        let authority = String(decoding: bytes[schemeEnd..<authorityEnd], as: UTF8.self)
        guard let targetHost = HostName.normalise(authority) else {
            throw RequestTargetRejection(.malformedAuthority)
        }
        guard let host, let requestHost = HostName.normalise(host), requestHost == targetHost else {
            throw RequestTargetRejection(.hostMismatch)
        }
        return authorityEnd
    }

    /// Whether `bytes` start with the lower-case ASCII `prefix`, ignoring case.
    private static func hasPrefixIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
        prefix.withUTF8Buffer { expected in
            guard bytes.count >= expected.count else { return false }
            for index in 0..<expected.count where ASCII.lower(bytes[index]) != expected[index] {
                return false
            }
            return true
        }
    }
}
