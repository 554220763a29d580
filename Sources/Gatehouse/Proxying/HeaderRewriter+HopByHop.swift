import NIOHTTP1

/// Hop-by-hop headers (RFC 9110 7.6.1): meaningful for one connection only, never forwarded.
enum HopByHop {
    /// The standard hop-by-hop names, lower case. `Transfer-Encoding` is here because each side's
    /// HTTP/1.1 encoder frames bodies itself; `Proxy-Authorization` / `Proxy-Authenticate` (RFC 9110
    /// 11.7) are credentials for this proxy, never for the backend. `Authorization` is *not*: it is
    /// end-to-end, and NTLM/Negotiate need it on the backend connection.
    static let names: [(lowercased: StaticString, name: String)] = [
        ("connection", "Connection"), ("keep-alive", "Keep-Alive"), ("proxy-connection", "Proxy-Connection"),
        ("te", "TE"), ("trailer", "Trailer"), ("transfer-encoding", "Transfer-Encoding"), ("upgrade", "Upgrade"),
        ("proxy-authorization", "Proxy-Authorization"), ("proxy-authenticate", "Proxy-Authenticate")
    ]

    /// Bit `n` set: some hop-by-hop name is `n` bytes long. Most headers are no such length, and
    /// one look at their length skips comparing them with every name.
    static let lengths: UInt64 = names.reduce(0) { mask, entry in mask | 1 << UInt64(entry.lowercased.utf8CodeUnitCount) }

    /// Headers a `Connection` header may not remove: `Authorization` (NTLM/Negotiate state lives on
    /// the connection, but the header is end-to-end), `Host`, and `Content-Length`, whose removal
    /// would change the body framing the backend sees.
    static let protected: [StaticString] = ["authorization", "host", "content-length"]

    /// Removes the standard hop-by-hop headers and every header the `Connection` header names.
    ///
    /// One scan finds what is present; `remove(name:)` (itself a scan) runs only for those, so a
    /// request with just `Connection: keep-alive` costs two passes over its headers.
    static func remove(from headers: inout HTTPHeaders, requestDirection: Bool) {
        var present: UInt16 = 0
        var nominated: [String] = []
        let lengths = Self.lengths
        for (name, value) in headers {
            let count = name.utf8.count
            guard count < 64, lengths & (1 << UInt64(count)) != 0 else { continue }
            for (bit, entry) in names.enumerated() where ASCII.nameEquals(name, entry.lowercased) {
                present |= 1 << UInt16(bit)
                if bit == 0 { collectNominated(value, into: &nominated) }
            }
        }
        guard present != 0 else { return }
        for (bit, entry) in names.enumerated() where present & (1 << UInt16(bit)) != 0 {
            headers.remove(name: entry.name)
        }
        for name in nominated {
            headers.remove(name: name)
        }
    }

    /// Adds the header names listed in one `Connection` value (`close, X-Foo`), skipping protected
    /// names and the standard hop-by-hop ones (removed anyway).
    private static func collectNominated(_ value: String, into nominated: inout [String]) {
        for token in value.utf8.split(separator: UInt8(ascii: ",")) {
            let name = String(Substring(ASCII.trimmingOWS(token)))
            guard !name.isEmpty, !ASCII.nameEquals(name, "close") else { continue }
            if protected.contains(where: { ASCII.nameEquals(name, $0) }) { continue }
            if names.contains(where: { ASCII.nameEquals(name, $0.lowercased) }) { continue }
            nominated.append(name)
        }
    }
}
