import NIOHTTP1

/// FNV-1a over bytes, ASCII case folded: the anchor `User@Contoso.com` and `user@contoso.com` are
/// one mailbox. No allocation, so it can run per request.
struct AnchorHasher {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ byte: UInt8) {
        let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
        value = (value ^ UInt64(folded)) &* 0x0000_0100_0000_01B3
    }
}

/// The anchor mailbox of a request, the way Exchange's front end finds it, reduced to a hash.
/// It only ever selects among configured servers (rendezvous hashing); it never names a host.
enum AnchorMailbox {
    /// The hash of the request's anchor mailbox, or nil when it has none. In order: the
    /// `X-AnchorMailbox` header, a MAPI URL's `MailboxId=`, an RPC URL's `?mailbox@domain:6001`,
    /// then the user name of Basic authentication.
    static func hash(of head: HTTPRequestHead) -> UInt64? {
        if let anchor = head.headers.first(name: "x-anchormailbox"), !anchor.isEmpty {
            return hash(anchor[...])
        }
        if let query = query(of: head.uri) {
            if let mailbox = parameter("mailboxid", in: query) { return hash(mailbox) }
            if let mailbox = rpcMailbox(query) { return hash(mailbox) }
        }
        if let authorization = head.headers.first(name: "authorization"), let user = basicUser(authorization) {
            return hash(user[...])
        }
        return nil
    }

    /// Hashes text, decoding `%XX` escapes so `a%40b` and `a@b` are the same mailbox.
    static func hash(_ text: Substring) -> UInt64 {
        var hasher = AnchorHasher()
        let bytes = text.utf8
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"),
                let high = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex), high != bytes.endIndex,
                let low = bytes.index(index, offsetBy: 2, limitedBy: bytes.endIndex), low != bytes.endIndex,
                let h = hexValue(bytes[high]), let l = hexValue(bytes[low])
            {
                hasher.add(h << 4 | l)
                index = bytes.index(after: low)
                continue
            }
            hasher.add(byte)
            index = bytes.index(after: index)
        }
        return hasher.value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func query(of uri: String) -> Substring? {
        guard let mark = uri.firstIndex(of: "?") else { return nil }
        let query = uri[uri.index(after: mark)...]
        return query.isEmpty ? nil : query
    }

    /// The value of query parameter `name` (case-insensitive), if present and not empty.
    static func parameter(_ name: String, in query: Substring) -> Substring? {
        var rest = query
        while !rest.isEmpty {
            // Walk the `&`-separated pairs in place (no array of pieces).
            let end = rest.firstIndex(of: "&") ?? rest.endIndex
            let pair = rest[..<end]
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
            guard let equals = pair.firstIndex(of: "="),
                asciiCaseInsensitiveEquals(pair[..<equals], name)
            else { continue }
            let value = pair[pair.index(after: equals)...]
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// Compares without allocating a lower-cased copy (`name` is lower case already).
    private static func asciiCaseInsensitiveEquals(_ text: Substring, _ name: String) -> Bool {
        guard text.utf8.count == name.utf8.count else { return false }
        var pairs = zip(text.utf8, name.utf8).makeIterator()
        while let (byte, wanted) = pairs.next() {
            let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            if folded != wanted { return false }
        }
        return true
    }

    /// `mailbox@domain` from an RPC-over-HTTP query `mailbox@domain:6001` (a bare `server:6001`
    /// names a server, not a mailbox, and is not used).
    static func rpcMailbox(_ query: Substring) -> Substring? {
        guard !query.utf8.contains(UInt8(ascii: "=")), let colon = query.lastIndex(of: ":") else { return nil }
        let mailbox = query[..<colon]
        return mailbox.utf8.contains(UInt8(ascii: "@")) || mailbox.contains("%40") ? mailbox : nil
    }

    /// The user name of `Authorization: Basic <base64(user:password)>`.
    static func basicUser(_ value: String) -> String? {
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Base64.decode(parts[1]), let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
        else { return nil }
        let user = String(decoding: decoded[..<colon], as: UTF8.self)
        return user.isEmpty ? nil : user
    }
}

/// A small standard-alphabet Base64 decoder (padding optional), for Basic credentials.
enum Base64 {
    static func decode(_ text: Substring) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return output
    }
}
