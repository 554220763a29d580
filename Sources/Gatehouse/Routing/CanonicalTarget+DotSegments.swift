extension CanonicalTarget {
    /// Resolves `.` and `..` segments of a decoded absolute path (RFC 3986 5.2.4) and merges empty
    /// segments. `..` above the root stays at the root, as the RFC says.
    ///
    /// Empty segments (`//`) are merged into one `/` *before* dot-segments are resolved. Left in,
    /// they would let `/owa//../ecp` mean `/owa/ecp` here (the `..` eats the empty segment) but
    /// `/ecp` to a backend or filter that merges slashes first, as IIS and nginx do; merging
    /// first makes both readings `/ecp`. No Exchange path has a meaningful empty segment.
    ///
    /// Segments ending in `.` or space are refused: Windows strips them from names, so `/ecp./`
    /// would reach the `/ecp/` application while matching no `/ecp` rule here.
    static func removeDotSegments(_ decoded: [UInt8]) throws(RequestTargetRejection) -> [UInt8] {
        // Fast path: no dot-segment, no empty segment and no trailing dot/space: nothing to do.
        if !needsSegmentWork(decoded) { return decoded }
        var output = [UInt8]()
        output.reserveCapacity(decoded.count)
        var trailingSlash = false
        var start = 1  // decoded[0] is the leading `/`
        while start <= decoded.count {
            var end = start
            while end < decoded.count, decoded[end] != UInt8(ascii: "/") { end += 1 }
            let isLast = end >= decoded.count
            let length = end - start
            trailingSlash = false
            if length == 0 {
                // An empty segment: merged, or the trailing `/` when it is the last one.
                trailingSlash = isLast
            } else if length == 1, decoded[start] == UInt8(ascii: ".") {
                trailingSlash = isLast
            } else if length == 2, decoded[start] == UInt8(ascii: "."), decoded[start + 1] == UInt8(ascii: ".") {
                // Drop the last output segment (`/name`), if any.
                if let slash = output.lastIndex(of: UInt8(ascii: "/")) {
                    output.removeSubrange(slash...)
                }
                trailingSlash = isLast
            } else {
                let last = decoded[end - 1]
                if last == UInt8(ascii: ".") || last == UInt8(ascii: " ") {
                    throw RequestTargetRejection(.trailingDotOrSpace)
                }
                output.append(UInt8(ascii: "/"))
                output.append(contentsOf: decoded[start..<end])
            }
            start = end + 1
        }
        if trailingSlash || output.isEmpty { output.append(UInt8(ascii: "/")) }
        return output
    }

    /// Whether the path has an empty segment other than a final one, or a segment ending in `.` or
    /// space (which covers the `.` and `..` segments).
    private static func needsSegmentWork(_ path: [UInt8]) -> Bool {
        var previous = UInt8(ascii: "/")
        for byte in path.dropFirst() {
            if byte == UInt8(ascii: "/")
                && (previous == UInt8(ascii: "/") || previous == UInt8(ascii: ".") || previous == UInt8(ascii: " "))
            {
                return true
            }
            previous = byte
        }
        return previous == UInt8(ascii: ".") || previous == UInt8(ascii: " ")
    }
}
