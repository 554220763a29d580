import NIOHTTP1

/// How the body of a parsed request is delimited.
enum BodyFraming: Equatable {
    case none
    case length(UInt64)
    case chunked
}

/// A request head and the framing of the body that follows it.
struct ParsedHead {
    var head: HTTPRequestHead
    var framing: BodyFraming
}

extension SimRequestDecoder {
    /// Parses the bytes of a request head (request line and header lines, without the final blank line).
    static func parseHead(_ bytes: [UInt8]) throws -> ParsedHead {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0D {
                guard index + 1 < bytes.count, bytes[index + 1] == 0x0A else {
                    throw SimHTTPParseError("bare CR in the request head")
                }
                lines.append(bytes[start..<index])
                index += 2
                start = index
                continue
            }
            if byte == 0x0A { throw SimHTTPParseError("bare LF in the request head") }
            index += 1
        }
        lines.append(bytes[start..<bytes.count])

        let (method, uri, version) = try parseRequestLine(lines[0])
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            if line.count > maxLineBytes { throw SimHTTPParseError("header line longer than \(maxLineBytes) bytes") }
            if headers.count >= 500 { throw SimHTTPParseError("more than 500 header fields") }
            let (name, value) = try parseHeaderLine(line)
            headers.add(name: name, value: value)
        }
        let framing = try framing(of: headers, version: version)
        return ParsedHead(head: HTTPRequestHead(version: version, method: method, uri: uri, headers: headers),
                          framing: framing)
    }

    /// Parses `METHOD SP request-target SP HTTP/1.x`.
    static func parseRequestLine(_ line: ArraySlice<UInt8>) throws -> (HTTPMethod, String, HTTPVersion) {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        let shown = String(decoding: line.prefix(80), as: UTF8.self)
        guard parts.count == 3 else {
            throw SimHTTPParseError("request line '\(shown)' is not 'METHOD TARGET HTTP/1.1'")
        }
        guard !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte) else {
            throw SimHTTPParseError("request line '\(shown)': invalid method")
        }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw SimHTTPParseError("request line '\(shown)': invalid request target (spaces or control characters)")
        }
        let version: HTTPVersion
        switch String(decoding: parts[2], as: UTF8.self) {
        case "HTTP/1.1": version = .http1_1
        case "HTTP/1.0": version = .http1_0
        default: throw SimHTTPParseError("request line '\(shown)': unsupported HTTP version")
        }
        let method = HTTPMethod(rawValue: String(decoding: parts[0], as: UTF8.self))
        return (method, String(decoding: parts[1], as: UTF8.self), version)
    }

    /// Parses `name: value`, keeping the name's case and trimming optional whitespace around the value.
    static func parseHeaderLine(_ line: ArraySlice<UInt8>) throws -> (String, String) {
        if let first = line.first, first == 0x20 || first == 0x09 {
            throw SimHTTPParseError("obsolete header line folding is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw SimHTTPParseError("header line '\(String(decoding: line.prefix(60), as: UTF8.self))' has no ':'")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw SimHTTPParseError("invalid header name '\(String(decoding: name.prefix(60), as: UTF8.self))'")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
        while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw SimHTTPParseError("header '\(String(decoding: name, as: UTF8.self))' has a control character in its value")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// Works out how the body is delimited, rejecting what request smuggling feeds on.
    static func framing(of headers: HTTPHeaders, version: HTTPVersion) throws -> BodyFraming {
        let transferEncodings = headers["Transfer-Encoding"]
        let lengths = headers["Content-Length"].flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingSpaces }
        if !transferEncodings.isEmpty {
            guard lengths.isEmpty else {
                throw SimHTTPParseError("both Transfer-Encoding and Content-Length are present")
            }
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }
            guard codings == ["chunked"], version == .http1_1 else {
                throw SimHTTPParseError("unsupported Transfer-Encoding '\(transferEncodings.joined(separator: ", "))' (only chunked on HTTP/1.1)")
            }
            return .chunked
        }
        guard let first = lengths.first else { return .none }
        guard lengths.allSatisfy({ $0 == first }) else {
            throw SimHTTPParseError("conflicting Content-Length values \(lengths)")
        }
        guard !first.isEmpty, first.count <= 18, first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let length = UInt64(first) else {
            throw SimHTTPParseError("invalid Content-Length '\(first)'")
        }
        return length == 0 ? .none : .length(length)
    }

    /// RFC 9110 tchar.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: String { Substring(self).trimmingSpaces }
}
