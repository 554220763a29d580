import Foundation
import Testing

/// Byte-level behaviour that HTTP client libraries hide: pipelining, framing errors, Expect.
@Suite("Sim raw sockets")
struct SimRawSocketTests {
    /// Sends argv[3] (with \r\n escapes) over one TLS or TCP connection and prints everything received until close.
    static let script = #"""
        import socket, ssl, sys, urllib.parse
        url, cafile, payload = sys.argv[1], sys.argv[2], sys.argv[3].encode().decode("unicode_escape").encode("latin-1")
        parts = urllib.parse.urlsplit(url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=cafile)
            sock = context.wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(payload)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sys.stdout.buffer.write(data)
        """#

    /// Runs the script against `sim` with `payload`.
    func exchange(_ sim: SimUnderTest, _ payload: String) async throws -> String {
        let result = try await ExternalClient.python(Self.script, arguments: [sim.url, sim.caFile ?? "", payload], timeout: 20)
        #expect(result.status == 0, "\(result.stderr)")
        return result.text
    }

    @Test("pipelined requests are answered in order on one connection; Connection: close ends it")
    func pipelining() async throws {
        try await SimHarness.withSim { sim in
            let text = try await exchange(
                sim,
                #"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: a\r\n\r\n"#
                    + #"POST /ews/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"#
                    + #"GET /x?sim-bytes=5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"#)
            // Bodies are not newline-terminated, so count status lines anywhere in the stream.
            #expect(text.components(separatedBy: "HTTP/1.1 ").count - 1 == 3)
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK\r\n").count - 1 == 3)
            #expect(text.contains("200 OK<br/>mbx01.contoso.lab"))
            // SHA-256 of "abc".
            #expect(text.contains("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
            #expect(text.hasSuffix("\u{0}\u{1}\u{2}\u{3}\u{4}"))
            let ids = Set(text.components(separatedBy: "\r\n").filter { $0.hasPrefix("X-Sim-Connection:") })
            #expect(ids.count == 1)
        }
    }

    @Test("a request with both Content-Length and Transfer-Encoding gets 400 naming the problem, then close")
    func smuggling() async throws {
        try await SimHarness.withSim { sim in
            let text = try await exchange(
                sim, #"POST /ews/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"#)
            #expect(text.hasPrefix("HTTP/1.1 400 Bad Request"))
            #expect(text.contains("both Transfer-Encoding and Content-Length"))
            #expect(text.contains("X-BEServer: mbx01"))
        }
    }

    @Test("Expect: 100-continue gets an interim 100 before the body is sent")
    func expectContinue() async throws {
        try await SimHarness.withSim { sim in
            let text = try await exchange(
                sim, #"POST /ews/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"#)
            #expect(text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"))
            #expect(text.contains("\"bytes\":3"))
        }
    }
}
