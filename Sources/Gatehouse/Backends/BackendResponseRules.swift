import NIOHTTP1

/// What Gatehouse refuses in a backend's response heads beyond what the HTTP/1.1 parser refuses.
/// A refused head fails the backend connection (it is closed, never reused): a 502 when nothing of
/// the response reached the client yet.
enum BackendResponseRules {
    /// Most header fields in one response head, trailers included (as many as a client request may
    /// carry, `ClientPipeline`). NIO's own default is 65,534: a flood under its 80 KiB size limit
    /// would be relayed whole.
    static let maxHeaderFields = 500

    /// Most interim (1xx) responses before the final one of a request. Exchange sends at most one
    /// `100 Continue`; a flood would otherwise be relayed to the client head by head.
    static let maxInterimResponses = 10

    /// The parser's limits for backend responses.
    static var decoderLimits: NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldCount = maxHeaderFields
        return limits
    }

    /// Why `head` is refused, or nil. `interimSoFar`: interim responses already received for the
    /// current request, this one not included.
    static func refusal(of head: HTTPResponseHead, interimSoFar: Int) -> String? {
        let code = head.status.code
        if (100..<200).contains(code), code != 101 {
            return interimSoFar >= maxInterimResponses
                ? "more than \(maxInterimResponses) interim (1xx) responses to one request" : nil
        }
        return transferCodingRefusal(head.headers)
    }

    /// A final head may name no transfer coding but `chunked`, once: Gatehouse removes
    /// `Transfer-Encoding` (hop-by-hop) and decodes nothing else, so a body in another coding
    /// (`gzip`, `gzip, chunked`, `chunked, gzip`, `identity`) would reach the client still coded,
    /// framed as if complete.
    static func transferCodingRefusal(_ headers: HTTPHeaders) -> String? {
        var values: [String] = []
        for (name, value) in headers where ASCII.nameEquals(name, "transfer-encoding") {
            values.append(value)
        }
        guard !values.isEmpty else { return nil }
        if values.count == 1, ASCII.equalsIgnoringCase(ASCII.trimmingOWS(values[0].utf8), chunkedToken) {
            return nil
        }
        return "Transfer-Encoding \"\(values.joined(separator: ", "))\": only chunked is accepted"
    }

    private static let chunkedToken = Array("chunked".utf8)
}
