import Gatehouse

/// Fuzzes the PROXY protocol parser (v1 text and v2 binary) that runs before TLS on listeners with
/// `proxy_protocol:`, on bytes a balancer (or anyone it lets through) sends.
///
/// Input: the first bytes of a connection (seeds: v1 TCP4/TCP6/UNKNOWN lines, v2 PROXY/LOCAL
/// headers for INET, INET6 and UNIX with TLVs, each followed by a ClientHello's first bytes).
///
/// Invariants: never a crash; a header occupies between 1 and all of the input's bytes and is
/// found again, identical, in exactly those bytes (what follows is passed on untouched and cannot
/// change it); every shorter prefix of a header, or of input still undecided, answers `needMore`
/// (the handler feeds bytes as they arrive, so a header split anywhere must parse the same); once
/// a prefix is invalid every longer one is invalid for the same reason (a refusal cannot be undone
/// by more bytes); a v1 header is at most 107 bytes, a v2 one within the cap; a source port is
/// 0-65535.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProxyProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = ProxyProtocolParser.parse(input)
    switch whole {
    case .header(let header, let consumed):
        precondition(consumed >= 1 && consumed <= input.count, "consumed \(consumed) of \(input.count) bytes")
        precondition(
            ProxyProtocolParser.parse(Array(input[..<consumed])) == whole, "the header's own bytes parse otherwise")
        switch header.version {
        case .v1: precondition(consumed <= ProxyProtocolParser.v1MaximumLength, "a v1 header of \(consumed) bytes")
        case .v2: precondition(consumed <= ProxyProtocolParser.defaultV2MaximumLength, "a v2 header of \(consumed) bytes")
        }
        if let source = header.source { precondition((0...65_535).contains(source.port), "source port \(source.port)") }
        checkPrefixes(input, upTo: consumed, final: whole)
    case .needMore:
        checkPrefixes(input, upTo: input.count, final: whole)
    case .invalid:
        checkPrefixes(input, upTo: input.count, final: whole)
    }
    return 0
}

/// Every prefix shorter than `end` answers `needMore`, except that an invalid input may be refused
/// earlier, for the same reason, and stays refused.
private func checkPrefixes(_ input: [UInt8], upTo end: Int, final: ProxyParseResult) {
    var refusal: ProxyParseResult?
    for length in 0..<end {
        let result = ProxyProtocolParser.parse(Array(input[..<length]))
        if let refusal {
            precondition(result == refusal, "prefix \(length) answers \(result) after \(refusal)")
            continue
        }
        switch result {
        case .needMore: continue
        case .invalid:
            guard case .invalid = final else { preconditionFailure("prefix \(length) is refused but the input is not") }
            precondition(result == final, "prefix \(length) is refused for \(result), the input for \(final)")
            refusal = result
        case .header:
            preconditionFailure("prefix \(length) is a whole header but the input's header is longer")
        }
    }
}
