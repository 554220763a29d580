import GatehouseScreening
import NIOHTTP1

extension ScreeningPacks {
    /// The first rule (packs in configuration order, rules in file order) that matches the
    /// request, or nil.
    public func firstMatch(head: HTTPRequestHead, target: CanonicalTarget, client: IPAddress) -> ScreeningRule? {
        var subject = ScreeningSubject(head: head, target: target, client: client)
        for index in conditions.indices where subject.holds(conditions[index]) {
            return rules[index]
        }
        return nil
    }
}

/// The values rules read from one request, each derived at most once and only when a rule asks:
/// the decoded URI and query, and the joined Cookie header. A request whose target has no `%`,
/// and a single Cookie header, are matched in place, without copying.
struct ScreeningSubject {
    let head: HTTPRequestHead
    let target: CanonicalTarget
    let client: IPAddress
    private var decodedURIStorage: [UInt8]?
    private var decodedQueryStorage: [UInt8]?
    private var cookieStorage: String?

    init(head: HTTPRequestHead, target: CanonicalTarget, client: IPAddress) {
        self.head = head
        self.target = target
        self.client = client
    }

    /// Whether `condition` holds for this request.
    mutating func holds(_ condition: ScreeningCondition) -> Bool {
        switch condition {
        case .matches(let field, let pattern):
            return matches(field, pattern)
        case .client(let networks):
            return networks.contains { $0.contains(client) }
        case .all(let conditions):
            for condition in conditions where !holds(condition) { return false }
            return true
        case .any(let conditions):
            for condition in conditions where holds(condition) { return true }
            return false
        case .not(let inner):
            return !holds(inner)
        }
    }

    private mutating func matches(_ field: ScreeningField, _ pattern: Pattern) -> Bool {
        switch field {
        case .uri:
            var uri = head.uri
            return uri.withUTF8 { pattern.matches($0) }
        case .decodedURI:
            if let decodedURIStorage { return decodedURIStorage.withUnsafeBufferPointer { pattern.matches($0) } }
            var uri = head.uri
            let decoded: [UInt8]? = uri.withUTF8 { raw in
                let origin = Self.originPart(raw)
                guard origin.contains(UInt8(ascii: "%")) else { return nil }
                return Self.fullyDecoded(origin)
            }
            guard let decoded else {
                // Nothing to decode: the target's own bytes are the decoded URI.
                return uri.withUTF8 { pattern.matches(UnsafeBufferPointer(rebasing: Self.originPart($0))) }
            }
            decodedURIStorage = decoded
            return decoded.withUnsafeBufferPointer { pattern.matches($0) }
        case .path:
            var path = target.path
            return path.withUTF8 { pattern.matches($0) }
        case .query:
            if decodedQueryStorage == nil {
                decodedQueryStorage = target.query.map { Self.fullyDecoded(Array($0.utf8)[...]) } ?? []
            }
            return decodedQueryStorage!.withUnsafeBufferPointer { pattern.matches($0) }
        case .method:
            var method = head.method.rawValue
            return method.withUTF8 { pattern.matches($0) }
        case .header(let name):
            if name == "cookie" {
                var cookie = cookies()
                return cookie.withUTF8 { pattern.matches($0) }
            }
            var seen = false
            for (headerName, value) in head.headers
            where headerName.utf8.count == name.utf8.count
                && ASCII.equalsIgnoringCase(headerName.utf8, name.utf8)
            {
                seen = true
                var value = value
                if value.withUTF8({ pattern.matches($0) }) { return true }
            }
            // An absent header is the empty string (IIS's `{HTTP_X}` for a header not sent).
            return !seen && pattern.matches(UnsafeBufferPointer<UInt8>(start: nil, count: 0))
        }
    }

    /// Every Cookie header's value joined with "; " (an HTTP/2 client sends one field per cookie),
    /// made once; the usual single Cookie header is used as it is, without copying.
    private mutating func cookies() -> String {
        if let cookieStorage { return cookieStorage }
        // NIO's own lookup walks its header storage in place (cheaper, measured, than iterating
        // the headers here); it allocates one small array only when there is a Cookie header.
        let values = head.headers["cookie"]
        let joined = values.count == 1 ? values[0] : values.joined(separator: "; ")
        cookieStorage = joined
        return joined
    }

    /// The path-and-query part of a request target (absolute form loses `scheme://authority`).
    static func originPart(_ raw: UnsafeBufferPointer<UInt8>) -> Slice<UnsafeBufferPointer<UInt8>> {
        guard raw.first != UInt8(ascii: "/"),
            let schemeEnd = ASCII.firstIndexLowercased(of: schemeSeparator, in: raw, from: 0)
        else { return raw[...] }
        let authorityStart = schemeEnd + 3
        var index = authorityStart
        while index < raw.count, raw[index] != UInt8(ascii: "/"), raw[index] != UInt8(ascii: "?") { index += 1 }
        return raw[index...]
    }

    private static let schemeSeparator = Array("://".utf8)

    /// `bytes` percent-decoded repeatedly until nothing changes (at most 4 rounds), case kept.
    static func fullyDecoded<C: Collection<UInt8>>(_ bytes: C) -> [UInt8] {
        var current = Array(bytes)
        for _ in 0..<4 {
            guard current.contains(UInt8(ascii: "%")) else { break }
            var next = [UInt8]()
            next.reserveCapacity(current.count)
            var index = 0
            var changed = false
            while index < current.count {
                if current[index] == UInt8(ascii: "%"), index + 2 < current.count,
                    let high = ASCII.hexValue(current[index + 1]), let low = ASCII.hexValue(current[index + 2])
                {
                    next.append(high << 4 | low)
                    index += 3
                    changed = true
                } else {
                    next.append(current[index])
                    index += 1
                }
            }
            current = next
            if !changed { break }
        }
        return current
    }
}
