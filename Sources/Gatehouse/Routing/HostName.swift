/// Normalisation of a Host header (or an absolute-form authority) into the key virtual services are
/// looked up by: lower case, port removed, one trailing dot removed, IPv6 literals kept in brackets.
public enum HostName {
    /// `Mail.Contoso.com.:443` -> `mail.contoso.com`; `[::1]:8443` -> `[::1]`.
    /// Nil when the text cannot be a host: empty, userinfo (`@`), a bad port, an unclosed bracket,
    /// whitespace, control or non-ASCII bytes, or characters outside RFC 3986 reg-name.
    public static func normalise(_ host: String) -> String? {
        // Fast path: the usual Host header is already a bare lower-case name; no allocation then.
        var text = host
        return text.withUTF8 { bytes -> String? in
            guard let range = hostRange(bytes) else { return nil }
            let name = UnsafeBufferPointer(rebasing: bytes[range])
            if range.count == bytes.count && ASCII.isLowercase(name) { return host }
            return String(unsafeUninitializedCapacity: name.count) { buffer in
                for index in 0..<name.count { buffer[index] = ASCII.lower(name[index]) }
                return name.count
            }
        }
    }

    /// The byte range of the host (without port and trailing dot), or nil when invalid.
    static func hostRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard !bytes.isEmpty else { return nil }
        var hostEnd: Int
        var portStart: Int? = nil
        if bytes[0] == UInt8(ascii: "[") {
            // IPv6 literal: everything up to the closing bracket is the host, brackets included.
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            for byte in bytes[1..<close] {
                guard ASCII.hexValue(byte) != nil || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") else {
                    return nil
                }
            }
            hostEnd = close + 1
            if hostEnd < bytes.count {
                guard bytes[hostEnd] == UInt8(ascii: ":") else { return nil }
                portStart = hostEnd + 1
            }
            guard close > 1 else { return nil }
        } else {
            hostEnd = bytes.count
            for index in 0..<bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: ":") {
                    hostEnd = index
                    portStart = index + 1
                    break
                }
                guard isRegNameByte(byte) else { return nil }
            }
            // One trailing dot is the DNS root: `mail.contoso.com.` is `mail.contoso.com`.
            if hostEnd > 0, bytes[hostEnd - 1] == UInt8(ascii: ".") { hostEnd -= 1 }
            guard hostEnd > 0 else { return nil }
        }
        if let portStart {
            let port = bytes[portStart...]
            // RFC 3986 allows an empty port; anything else must be 1-5 digits.
            guard port.count <= 5, port.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                return nil
            }
        }
        return 0..<hostEnd
    }

    /// RFC 3986 reg-name bytes (unreserved and sub-delims); percent-encoding in host names is refused.
    @inline(__always)
    static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}
