extension CanonicalTarget {
    /// Canonicalises an origin-form `/path?query`.
    ///
    /// `originalOriginForm` is the original String when `bytes` are all of it: when the canonical
    /// form turns out byte-identical (the common case) it is reused and nothing is re-encoded.
    static func canonicalise(
        _ bytes: UnsafeBufferPointer<UInt8>, originalOriginForm: String?, form: Form
    ) throws(RequestTargetRejection) -> CanonicalTarget {
        let queryMark = bytes.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = UnsafeBufferPointer(rebasing: bytes[..<(queryMark ?? bytes.count)])
        var query: String? = nil
        if let queryMark {
            let rawQuery = UnsafeBufferPointer(rebasing: bytes[(queryMark + 1)...])
            try validateQuery(rawQuery)
            query = String(decoding: rawQuery, as: UTF8.self)
        }

        // Most paths need neither decoding nor segment work; then no byte is copied here.
        var normalised: [UInt8]? = nil
        if let decoded = try decodePath(rawPath) {
            normalised =
                try decoded.withUnsafeBufferPointer { (buffer) throws(RequestTargetRejection) in
                    try removeDotSegments(buffer)
                } ?? decoded
        } else {
            normalised = try removeDotSegments(rawPath)
        }
        guard let normalised else {
            return finish(rawPath, pathIsUnchanged: true, query: query, originalOriginForm: originalOriginForm, form: form)
        }
        return try normalised.withUnsafeBufferPointer { (buffer) throws(RequestTargetRejection) in
            if buffer.contains(where: { $0 >= 0x80 }) {
                // String(decoding:) would quietly replace bad sequences with U+FFFD; refuse instead.
                guard String(decoding: buffer, as: UTF8.self).utf8.elementsEqual(buffer) else {
                    throw RequestTargetRejection(.invalidUTF8)
                }
            }
            return finish(buffer, pathIsUnchanged: false, query: query, originalOriginForm: originalOriginForm, form: form)
        }
    }

    /// Builds the value from the canonical path bytes, reusing the original String where possible.
    private static func finish(
        _ normalised: UnsafeBufferPointer<UInt8>, pathIsUnchanged: Bool, query: String?, originalOriginForm: String?,
        form: Form
    ) -> CanonicalTarget {
        let path: String
        if pathIsUnchanged, query == nil, let originalOriginForm {
            path = originalOriginForm
        } else {
            path = String(decoding: normalised, as: UTF8.self)
        }
        let lowercasedPath: String
        if ASCII.isLowercase(normalised) {
            lowercasedPath = path
        } else {
            lowercasedPath = String(unsafeUninitializedCapacity: normalised.count) { buffer in
                for index in 0..<normalised.count { buffer[index] = ASCII.lower(normalised[index]) }
                return normalised.count
            }
        }
        let forwardTarget: String
        if pathIsUnchanged, normalised.allSatisfy(isPathByteLiteral), let originalOriginForm {
            forwardTarget = originalOriginForm
        } else {
            forwardTarget = encodeForBackend(normalised, query: query)
        }
        return CanonicalTarget(
            path: path, lowercasedPath: lowercasedPath, query: query, forwardTarget: forwardTarget, form: form)
    }

    /// Checks the raw query: printable ASCII only, valid `%XX` escapes, no `%00`, no fragment.
    ///
    /// The query is otherwise left alone: `%2F` and even `%25` are legitimate there (OWA carries
    /// encoded return URLs), and the deny rules decode it themselves, repeatedly, when they look.
    static func validateQuery(_ query: UnsafeBufferPointer<UInt8>) throws(RequestTargetRejection) {
        var index = 0
        while index < query.count {
            let byte = query[index]
            try checkRawByte(byte)
            if byte == UInt8(ascii: "%") {
                guard index + 2 < query.count,
                    let high = ASCII.hexValue(query[index + 1]), let low = ASCII.hexValue(query[index + 2])
                else { throw RequestTargetRejection(.invalidPercentEncoding) }
                if high == 0 && low == 0 { throw RequestTargetRejection(.encodedNul) }
                index += 3
                continue
            }
            index += 1
        }
    }

    /// Rejections that apply to any raw byte of the target, path or query.
    @inline(__always)
    static func checkRawByte(_ byte: UInt8) throws(RequestTargetRejection) {
        if byte <= 0x20 || byte == 0x7F { throw RequestTargetRejection(.controlCharacter) }
        if byte >= 0x80 { throw RequestTargetRejection(.nonASCII) }
        if byte == UInt8(ascii: "\\") { throw RequestTargetRejection(.backslash) }
        if byte == UInt8(ascii: "#") { throw RequestTargetRejection(.fragment) }
    }

    /// Percent-decodes the path exactly once, refusing every escape that would make the path mean
    /// something else to a backend that decodes again or treats `\` as `/`.
    /// Returns nil when the path has no escape (after checking its bytes): it is its own decoding.
    static func decodePath(_ raw: UnsafeBufferPointer<UInt8>) throws(RequestTargetRejection) -> [UInt8]? {
        guard raw.contains(UInt8(ascii: "%")) else {
            for byte in raw { try checkRawByte(byte) }
            return nil
        }
        var decoded = [UInt8]()
        decoded.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            try checkRawByte(byte)
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                index += 1
                continue
            }
            guard index + 2 < raw.count,
                let high = ASCII.hexValue(raw[index + 1]), let low = ASCII.hexValue(raw[index + 2])
            else { throw RequestTargetRejection(.invalidPercentEncoding) }
            let value = high << 4 | low
            switch value {
            case 0x00: throw RequestTargetRejection(.encodedNul)
            case UInt8(ascii: "/"): throw RequestTargetRejection(.encodedSlash)
            case UInt8(ascii: "\\"): throw RequestTargetRejection(.encodedBackslash)
            // Any decoded `%` is what a second decoding would act on (`%252e` -> `%2e` -> `.`),
            // so the path is refused whatever follows; nothing in Exchange needs `%` in a path.
            case UInt8(ascii: "%"): throw RequestTargetRejection(.doubleEncoding)
            case 0x01..<0x20, 0x7F: throw RequestTargetRejection(.controlCharacter)
            default: decoded.append(value)
            }
            index += 3
        }
        return decoded
    }
}
