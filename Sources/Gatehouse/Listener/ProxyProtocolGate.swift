/// What a listener with `proxy_protocol` does with the first bytes of a connection, as a pure
/// function of the bytes so far and whether the peer is a trusted balancer: the policy half of
/// `ProxyProtocolHandler`, testable without a channel.
///
/// - A trusted peer's header is parsed; without one (first bytes that match no signature) the
///   connection is refused when the header is required, and served as a direct client otherwise.
/// - An untrusted peer is a direct client: a header from it is refused, since believing it would
///   let anyone choose the address deny rules, admin networks and logs see.
enum ProxyProtocolGate {
    /// The verdict on the bytes so far.
    enum Verdict: Hashable, Sendable {
        /// Too few bytes to decide: keep them and read more.
        case needMore
        /// A trusted header: the client is `header.source` (or the peer, when it names none); the
        /// first `consumed` bytes are the header, the rest belongs to TLS or HTTP.
        case header(ProxyHeader, consumed: Int)
        /// No header, and none needed: pass every byte on unchanged.
        case direct
        /// Close the connection; the reason is for the log line.
        case refuse(String)
    }

    static func verdict(
        _ bytes: UnsafeRawBufferPointer, trusted: Bool, required: Bool, v2MaximumLength: Int
    ) -> Verdict {
        let signature = ProxyProtocolParser.signature(bytes)
        switch (signature, trusted) {
        case (.undecided, _):
            return .needMore
        case (.none, true):
            return required ? .refuse("no PROXY protocol header from a trusted source (the listener requires one)") : .direct
        case (.none, false):
            return .direct
        case (.v1, false), (.v2, false):
            return .refuse("PROXY protocol header from a source outside trusted_sources")
        case (.v1, true), (.v2, true):
            switch ProxyProtocolParser.parse(bytes, v2MaximumLength: v2MaximumLength) {
            case .needMore: return .needMore
            case .header(let header, let consumed): return .header(header, consumed: consumed)
            case .invalid(let error): return .refuse("bad PROXY protocol header: \(error)")
            }
        }
    }

    /// The same over an array (tests).
    static func verdict(_ bytes: [UInt8], trusted: Bool, required: Bool, v2MaximumLength: Int = ProxyProtocolParser.defaultV2MaximumLength)
        -> Verdict
    {
        bytes.withUnsafeBytes { verdict($0, trusted: trusted, required: required, v2MaximumLength: v2MaximumLength) }
    }
}
