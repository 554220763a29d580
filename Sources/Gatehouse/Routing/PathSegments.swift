/// The non-empty segments of a canonical path (`/owa/u@contoso.com/ews;x/` -> `owa`,
/// `u@contoso.com`, `ews;x`), found by scanning the path's bytes in place: no copy, no allocation.
///
/// Deny rules that name a virtual directory match whole segments, never substrings, so that
/// `/owa/powershell-team@contoso.com/` is a mailbox and `/owa/u@contoso.com/powershell` is not.
/// A path that does not start with `/` (the asterisk form's `*`) has no segments.
struct PathSegments: Sequence, IteratorProtocol {
    private let path: UnsafeBufferPointer<UInt8>
    private var start: Int

    /// Segments of `path`, which must stay valid while they are read.
    init(_ path: UnsafeBufferPointer<UInt8>) {
        self.path = path
        start = path.first == UInt8(ascii: "/") ? 1 : path.count
    }

    mutating func next() -> PathSegment? {
        while start < path.count {
            let segmentStart = start
            var end = segmentStart
            while end < path.count, path[end] != UInt8(ascii: "/") { end += 1 }
            start = end + 1
            // Canonical paths have no empty segment but the one after a trailing `/`; skip it.
            if end > segmentStart { return PathSegment(bytes: path[segmentStart..<end]) }
        }
        return nil
    }
}

/// One segment of a canonical path, a view into the path's bytes.
struct PathSegment {
    /// The whole segment, path parameters included (`ews;x`).
    let bytes: Slice<UnsafeBufferPointer<UInt8>>

    /// The segment up to its first `;` (`ews` for `ews;x`): what a server that reads `;` as the start
    /// of path parameters (`/ecp;jsessionid=1/`) takes for the name, so the rules match it too.
    var name: Slice<UnsafeBufferPointer<UInt8>> {
        guard let semicolon = bytes.firstIndex(of: UInt8(ascii: ";")) else { return bytes }
        return bytes[..<semicolon]
    }

    /// Whether the segment holds an address (`@`), as an explicit logon (`/owa/<address>/`) does.
    /// The path is already percent-decoded once, so `%40` is `@` here; `%2540` never gets this far.
    var holdsAddress: Bool { bytes.contains(UInt8(ascii: "@")) }
}
