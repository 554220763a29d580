import NIOHTTP1

/// How a request's body is delimited, once its framing headers are known to be unambiguous.
public enum RequestBodyFraming: Sendable, Hashable {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    case none
    /// `Content-Length: n`.
    case contentLength(Int64)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

extension RequestBodyFraming {
    /// Whether a body of `bodyBytes` bytes so far fits this framing: none for `.none`, at most the
    /// declared length for `.contentLength`, any amount for `.chunked`.
    func allows(bodyBytes: Int64) -> Bool {
        switch self {
        case .none: return bodyBytes == 0
        case .contentLength(let length): return bodyBytes <= length
        case .chunked: return true
        }
    }
}

/// Why a request's framing was refused (the proxy answers 400 and closes the connection).
public struct RequestFramingRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable, loggable reasons.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// Both `Content-Length` and `Transfer-Encoding`: the classic CL.TE / TE.CL smuggling set-up.
        case contentLengthAndTransferEncoding = "content_length_and_transfer_encoding"
        /// Several `Content-Length` values that differ.
        case conflictingContentLength = "conflicting_content_length"
        /// A `Content-Length` that is not a plain decimal number (sign, space inside, hex, empty, too big).
        case invalidContentLength = "invalid_content_length"
        /// A `Transfer-Encoding` other than exactly one `chunked` (`gzip, chunked`, `chunked, chunked`,
        /// `xchunked`, two header lines): the proxy and a backend could end the body in different places.
        case unsupportedTransferEncoding = "unsupported_transfer_encoding"
        /// More than one `Host` line (RFC 9112 3.2 requires a 400): Gatehouse would route on one and
        /// the backend might read the other.
        case multipleHost = "multiple_host"
    }

    /// Why the framing was refused.
    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String { "request framing rejected: \(reason.rawValue)" }
}

/// Request-smuggling defence: accepts only framing that every HTTP/1.1 implementation reads alike.
public enum RequestFraming {
    /// A head's framing as parsed once: the body's delimitation, or why it was refused.
    public typealias Parsed = Result<RequestBodyFraming, RequestFramingRejection>

    /// The one parse of a request head's framing headers on the proxy's side (`check` as a value),
    /// run when the head arrives; the result travels with the request to routing and the machine.
    public static func parse(_ headers: HTTPHeaders) -> Parsed {
        do {
            return .success(try check(headers))
        } catch {
            return .failure(error)
        }
    }

    /// Whether a request with this framing announces body bytes. A refused framing counts as one
    /// when it names a length or a transfer coding at all: its body cannot be delimited, so a local
    /// answer must not leave the connection open behind it.
    static func declaresBody(_ parsed: Parsed, headers: HTTPHeaders) -> Bool {
        switch parsed {
        case .success(.none), .success(.contentLength(0)): return false
        case .success: return true
        case .failure: return headers.contains(name: "content-length") || headers.contains(name: "transfer-encoding")
        }
    }

    /// Checks the framing headers of a client's request (and that it names at most one Host) and
    /// says how its body is delimited. Run it before `HeaderRewriter.rewriteRequest`.
    public static func check(_ headers: HTTPHeaders) throws(RequestFramingRejection) -> RequestBodyFraming {
        var contentLength: Int64? = nil
        var transferEncodingLines = 0
        var transferEncodingIsChunked = false
        var hostLines = 0
        for (name, value) in headers {
            if ASCII.nameEquals(name, "content-length") {
                // A line may itself be a list (`5, 5`); RFC 9110 8.6 allows identical repeats only.
                for element in value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                    let parsed = try parseLength(element)
                    if let contentLength, contentLength != parsed {
                        throw RequestFramingRejection(.conflictingContentLength)
                    }
                    contentLength = parsed
                }
            } else if ASCII.nameEquals(name, "transfer-encoding") {
                transferEncodingLines += 1
                transferEncodingIsChunked = ASCII.equalsIgnoringCase(ASCII.trimmingOWS(value.utf8), chunked)
            } else if ASCII.nameEquals(name, "host") {
                hostLines += 1
                if hostLines > 1 { throw RequestFramingRejection(.multipleHost) }
            }
        }
        if transferEncodingLines > 0 {
            guard contentLength == nil else { throw RequestFramingRejection(.contentLengthAndTransferEncoding) }
            guard transferEncodingLines == 1, transferEncodingIsChunked else {
                throw RequestFramingRejection(.unsupportedTransferEncoding)
            }
            return .chunked
        }
        return contentLength.map { .contentLength($0) } ?? .none
    }

    private static let chunked = Array("chunked".utf8)

    /// Writes the framing Gatehouse itself decided into the headers of a request it sends to a
    /// backend: exactly one normalised `Content-Length` (`5, 5` becomes `5`), or
    /// `Transfer-Encoding: chunked`, or neither when the request has no body. Every method gets
    /// the same treatment (GET, HEAD, DELETE, PROPFIND, RPC_IN_DATA...): the backend must find
    /// the body where Gatehouse ends it, or bytes of one request would be parsed as the next.
    /// Run it after `HeaderRewriter.rewriteRequest`, which drops the client's `Transfer-Encoding`.
    public static func apply(_ framing: RequestBodyFraming, to headers: inout HTTPHeaders) {
        switch framing {
        case .none:
            // `check` found neither header, so there is nothing to remove.
            break
        case .contentLength(let length):
            headers.replaceOrAdd(name: "Content-Length", value: String(length))
        case .chunked:
            headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
        }
    }

    /// Parses one Content-Length element: optional spaces/tabs around 1-18 decimal digits.
    private static func parseLength(_ element: Substring.UTF8View.SubSequence) throws(RequestFramingRejection) -> Int64 {
        let digits = ASCII.trimmingOWS(element)
        // 18 digits stay below Int64.max; no real body is an exabyte.
        guard !digits.isEmpty, digits.count <= 18 else { throw RequestFramingRejection(.invalidContentLength) }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RequestFramingRejection(.invalidContentLength)
            }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
