import Foundation
import MailboxSimCore

/// One HTTP response as printed by `curl -si` (interim 1xx blocks skipped).
struct CurlResponse {
    var status: Int
    /// Header fields in order, names as sent.
    var headers: [(name: String, value: String)]
    var body: Data

    /// The first value of `name` (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Every value of `name` (case-insensitive), in order.
    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// Splits curl's `-i` output, which may hold several responses (one per URL), into responses.
    static func parseAll(_ output: Data) throws -> [CurlResponse] {
        var responses: [CurlResponse] = []
        var rest = output[...]
        while !rest.isEmpty {
            guard let end = rest.firstRange(of: Data("\r\n\r\n".utf8)) else {
                throw ClientMissing("curl output has no header end: \(String(decoding: rest.prefix(200), as: UTF8.self))")
            }
            let lines = String(decoding: rest[rest.startIndex..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
            rest = rest[end.upperBound...]
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
                throw ClientMissing("bad status line '\(lines[0])'")
            }
            if (100..<200).contains(status) { continue }
            let headers = lines.dropFirst().compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            var response = CurlResponse(status: status, headers: headers, body: Data())
            if rest.starts(with: Data("HTTP/1.".utf8)) {
                // curl prints no body for a response it answered itself (an NTLM 401 challenge).
            } else if let lengthText = response.header("Content-Length"), let length = Int(lengthText) {
                response.body = Data(rest.prefix(length))
                rest = rest.dropFirst(length)
            } else {
                // Chunked or close-delimited: curl has already de-chunked; take the rest.
                response.body = Data(rest)
                rest = rest.suffix(0)
            }
            responses.append(response)
        }
        return responses
    }
}

/// A simulator started for one test, with what clients need to trust it.
struct SimUnderTest {
    let server: MailboxSimServer
    /// The PEM file of the simulator's self-signed certificate when it speaks TLS.
    let caFile: String?

    var url: String { server.url }
    var state: SimState { server.state }

    /// curl arguments that make it trust this server.
    var curlTrust: [String] { caFile.map { ["--cacert", $0] } ?? [] }

    /// `curl -si URL...` against this server (one connection, reused); returns the parsed responses.
    func curl(_ paths: [String], _ extra: [String] = [], stdin: Data? = nil, timeout: Double = 20) async throws -> [CurlResponse] {
        let result = try await ExternalClient.curl(curlTrust + ["-i"] + extra + paths.map { url + $0 }, stdin: stdin, timeout: timeout)
        guard result.status == 0 else {
            throw ClientMissing("curl \(extra) \(paths) exited \(result.status): \(result.stderr)")
        }
        return try CurlResponse.parseAll(result.stdout)
    }

    /// One request with curl.
    func curl(_ path: String, _ extra: [String] = [], stdin: Data? = nil, timeout: Double = 20) async throws -> CurlResponse {
        let responses = try await curl([path], extra, stdin: stdin, timeout: timeout)
        guard let response = responses.last else { throw ClientMissing("curl gave no response for \(path)") }
        return response
    }

    /// Runs a python3 script with the base URL and CA file (or "") as arguments.
    func python(_ script: String, modules: [String] = [], timeout: Double = 30) async throws -> ExternalClient.Result {
        try await ExternalClient.python(script, arguments: [url, caFile ?? ""], modules: modules, timeout: timeout)
    }
}
