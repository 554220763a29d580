import Foundation
import GatehouseHTTP1
import GatehouseHTTP2
import Testing

/// Runs one scenario of the Python client against `port` and returns its JSON result.
func runScenario(_ name: String, port: Int, timeout: Double = 45) async throws -> [String: Any] {
    let available = await pythonH2Available()
    try #require(available, "python3 with the `h2` package is required: `make deps` installs it (pip install h2)")
    let result = try await runProcess("/usr/bin/env", ["python3", "-c", pythonClientScript, name, String(port)], timeout: timeout)
    try #require(result.status == 0, "scenario \(name) failed: \(result.stderr)")
    let object = try JSONSerialization.jsonObject(with: result.stdout)
    return try #require(object as? [String: Any], "scenario \(name) printed: \(result.stdoutText)")
}

/// Reads `dict[key]` as a nested dictionary.
func sub(_ dict: [String: Any], _ key: String) -> [String: Any] { dict[key] as? [String: Any] ?? [:] }

/// The (last stream id, error code) pair of a GOAWAY, if one was received.
func goaway(_ dict: [String: Any]) -> (last: Int, code: Int)? {
    guard let pair = dict["goaway"] as? [Int], pair.count == 2 else { return nil }
    return (pair[0], pair[1])
}

/// The sum of the pattern bytes `pattern(offset, n)` of the Python client, as the echo reports it.
func patternSum(_ offset: Int, _ n: Int) -> UInt64 {
    (0..<n).reduce(UInt64(0)) { $0 + UInt64(($1 + offset) % 251) }
}

/// Waits (bounded) until every write promise the test app handed to the handler has completed.
func waitForSettledWrites(_ recorder: Recorder) async throws -> Recorder.State {
    for _ in 0..<50 {
        let state = recorder.snapshot
        if state.startedWrites == state.completedWrites { return state }
        try await Task.sleep(for: .milliseconds(100))
    }
    return recorder.snapshot
}

/// Hostile and edge-case sequences from a raw-frame Python client, each on a fresh server.
@Suite("HTTP2 hostile clients", .serialized)
struct HostileClientTests {
    @Test("malformed requests get RST_STREAM(PROTOCOL_ERROR); the connection lives; valid ones map to HTTP/1 heads")
    func malformedRequests() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("invalid", port: server.port)
        let invalid = [
            "missing_path", "missing_method", "duplicate_method", "duplicate_path", "unknown_pseudo",
            "pseudo_after_regular", "uppercase_name", "connection", "keep_alive", "proxy_connection",
            "transfer_encoding", "upgrade", "te_gzip", "relative_path", "empty_path", "asterisk_get",
            "host_mismatch", "two_hosts", "space_in_name", "newline_in_value"
        ]
        for name in invalid {
            #expect(sub(result, name)["reset"] as? Int == 1, "\(name): \(sub(result, name))")
        }
        #expect(sub(result, "connect")["reset"] as? Int == 7, "CONNECT is refused: \(sub(result, "connect"))")
        for name in ["valid_get", "options_asterisk", "host_only", "host_same", "te_trailers"] {
            #expect(sub(result, name)["status"] as? Int == 200, "\(name): \(sub(result, name))")
        }
        #expect(
            sub(result, "valid_get")["body"] as? String
                == "method=GET\nuri=/headers\nversion=2.0\nhost: 127.0.0.1\nuser-agent: t\ncookie: a=1; b=2\n")
        #expect((sub(result, "host_only")["body"] as? String)?.contains("host: mail.contoso.com\n") == true)
        #expect(sub(result, "host_same")["body"] as? String == "method=GET\nuri=/headers\nversion=2.0\nhost: 127.0.0.1\n")
        #expect(goaway(result) == nil)
        // The proxy saw only the five valid requests.
        #expect(server.recorder.snapshot.uris.count == 5)
    }

    @Test("NTLM/Negotiate on h2 get RST_STREAM(HTTP_1_1_REQUIRED) inside the handler; Basic passes")
    func connectionAuthNeedsHTTP11() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("ntlm", port: server.port)
        for name in ["ntlm", "negotiate", "ntlm_lower", "ntlm_post"] {
            #expect(sub(result, name)["reset"] as? Int == 0xd, "\(name): \(sub(result, name))")
        }
        #expect(sub(result, "basic")["status"] as? Int == 200)
        #expect(sub(result, "bearer")["status"] as? Int == 200)
        #expect(sub(result, "echo_after")["body"] as? String == "len=300000 sum=\(patternSum(0, 300_000))")
        let heads = server.recorder.snapshot.heads
        #expect(
            !heads.contains { head in
                head.headers["authorization"].contains { $0.lowercased().hasPrefix("ntlm") || $0.lowercased().hasPrefix("negotiate") }
            })
    }

    @Test("bodies nobody consumes (client reset, early answer, proxy reset, refused) do not leak the connection window")
    func discardedBodiesReleaseWindow() async throws {
        var settings = HTTP2Settings()
        // 2 MB of discarded bodies go through a 1 MiB connection window: any leak stalls the upload.
        settings.connectionWindowSize = 1 << 20
        settings.initialStreamWindowSize = 256 << 10
        let server = try await TestServer.start(settings: settings)
        defer { Task { try await server.stop() } }
        let result = try await runScenario("leak", port: server.port)
        #expect(result["upload"] as? String == "ok", "\(result)")
        #expect(result["done"] as? Bool == true)
        #expect(result["status"] as? Int == 200)
        #expect(result["body"] as? String == result["expected"] as? String)
        #expect(result["early_status"] as? Int == 413)
        // StreamCommand.reset from the proxy becomes RST_STREAM with its code (CANCEL).
        #expect(result["proxy_resets"] as? [Int] == [8, 8])
        // The client reset the four /sink streams the proxy knew: StreamEvent.reset for each, and
        // for no other stream (refused ones never reached the proxy; finished ones are not reset).
        #expect(server.recorder.snapshot.resets == [1, 3, 5, 7])
        #expect(goaway(result) == nil)
    }

    @Test("flow control is manual: an unconsumed body stalls at the stream window, a consumed one flows")
    func manualFlowControl() async throws {
        var settings = HTTP2Settings()
        settings.initialStreamWindowSize = 256 << 10
        let server = try await TestServer.start(settings: settings)
        defer { Task { try await server.stop() } }
        let result = try await runScenario("manual_window", port: server.port)
        #expect(result["stream_window"] as? Int == 256 << 10)
        #expect(result["sink_state"] as? String == "stalled", "\(result)")
        #expect(result["sink_sent"] as? Int == 256 << 10)
        #expect(result["echo_upload"] as? String == "ok")
        #expect(result["echo"] as? String == "len=\(1 << 20) sum=\(patternSum(0, 1 << 20))")
    }

    @Test("a stream's window widens to the upload window once its body is consumed, and no further")
    func uploadWindowWidensOnceConsumed() async throws {
        var settings = HTTP2Settings()
        settings.uploadWindowSize = 1 << 20
        let server = try await TestServer.start(settings: settings)
        defer { Task { try await server.stop() } }
        let result = try await runScenario("upload_window", port: server.port)
        #expect(result["stream_window"] as? Int == 64 << 10)
        // Never consumed (a backend connection not yet open): the initial window, no more.
        #expect(result["sink_state"] as? String == "stalled", "\(result)")
        #expect(result["sink_sent"] as? Int == 64 << 10)
        // 16 KiB consumed, then a stalled backend: the window is the upload window, and it holds.
        #expect(result["take_state"] as? String == "stalled", "\(result)")
        #expect(result["take_sent"] as? Int == 1 << 20, "\(result)")
        #expect((result["resets"] as? [String: Int])?.isEmpty == true, "\(result)")
        #expect(goaway(result) == nil)
    }

    @Test("Rapid Reset flood ends in GOAWAY; other connections stay healthy; no write promise leaks")
    func rapidResetFlood() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        async let flood = runScenario("rapid_reset", port: server.port)
        let during = try await runProcess("/usr/bin/nghttp", ["http://127.0.0.1:\(server.port)/bytes?n=100000"], timeout: 20)
        let result = try await flood
        #expect(goaway(result) != nil, "\(result)")
        #expect(result["closed"] as? Bool == true)
        #expect(during.status == 0 && during.stdout.count == 100_000)
        let after = try await runProcess("/usr/bin/nghttp", ["http://127.0.0.1:\(server.port)/bytes?n=1000"], timeout: 20)
        #expect(after.status == 0 && after.stdout.count == 1000)
        let state = try await waitForSettledWrites(server.recorder)
        #expect(state.startedWrites == state.completedWrites)
        #expect(state.failedWrites > 0, "answers to reset streams are dropped with a failed promise")
    }

    @Test("CONTINUATION flood closes the connection; the server keeps serving")
    func continuationFlood() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("continuation_flood", port: server.port)
        #expect(result["closed"] as? Bool == true, "\(result)")
        #expect(result["responses"] as? Int == 0)
        let after = try await runProcess("/usr/bin/nghttp", ["http://127.0.0.1:\(server.port)/bytes?n=1000"], timeout: 20)
        #expect(after.status == 0 && after.stdout.count == 1000)
    }

    @Test("a 60 KB Kerberos-sized header passes; a 300 KB header list gets 431 and the connection lives")
    func largeHeaders() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("big_headers", port: server.port)
        #expect(sub(result, "kerberos")["status"] as? Int == 200)
        #expect((sub(result, "kerberos")["length"] as? Int ?? 0) > 60_000)
        #expect(sub(result, "too_large")["status"] as? Int == 431, "\(result)")
        #expect(sub(result, "after")["status"] as? Int == 200)
        #expect(goaway(result) == nil)
        #expect(server.recorder.snapshot.uris.count == 2)
    }

    @Test("100 concurrent streams, mixed uploads and downloads on one connection, contents checked")
    func hundredConcurrentStreams() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("concurrent", port: server.port)
        #expect(result["ok"] as? Int == 100, "\(result)")
        #expect(goaway(result) == nil)
    }

    @Test("a stalled reader on one stream does not stall another; the stalled stream's producer is paused")
    func stalledReader() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("stalled", port: server.port)
        #expect(result["done3"] as? Bool == true, "\(result)")
        #expect(result["correct3"] as? Bool == true)
        #expect((result["len1"] as? Int ?? .max) <= 65_535)
        #expect(server.recorder.snapshot.pausedStreams.contains(1))
    }

    @Test("100 Continue, trailers both ways, connection-specific response headers dropped")
    func responseShapes() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("responses", port: server.port)
        let cont = sub(result, "continue")
        #expect(cont["info_first"] as? [Int] == [100])
        #expect(cont["status"] as? Int == 200 && cont["body"] as? String == "continued")
        let trailers = sub(result, "trailers")
        #expect(trailers["body"] as? String == "body")
        #expect(trailers["trailers"] as? [String: String] == ["x-checksum": "abc"])
        #expect(sub(result, "headers") as? [String: String] == [":status": "200", "content-length": "5"])
        #expect(result["echo_trailers"] as? String == "len=3 sum=\(97 + 98 + 99)")
        #expect(result["big_trailers_reset"] as? Int == 0xb, "oversized trailers: RST_STREAM(ENHANCE_YOUR_CALM)")
        let requestTrailers = server.recorder.snapshot.trailers
        #expect(requestTrailers.count == 1 && requestTrailers.first?["x-request-checksum"] == ["42"])
        #expect(goaway(result) == nil)
    }

    @Test("quiesce: GOAWAY(NO_ERROR, last stream) first, the open stream finishes, then the connection closes")
    func gracefulQuiesce() async throws {
        let server = try await TestServer.start()
        defer { Task { try await server.stop() } }
        let result = try await runScenario("quiesce", port: server.port)
        #expect(goaway(result)?.last == 1 && goaway(result)?.code == 0, "\(result)")
        #expect(result["goaway_before_end"] as? Bool == true)
        #expect(result["status"] as? Int == 200 && result["body"] as? String == "finished")
        #expect(result["closed"] as? Bool == true)
    }

    @Test("idle timeout: GOAWAY(NO_ERROR) and close when no stream is open")
    func idleTimeout() async throws {
        var settings = HTTP2Settings()
        settings.idleTimeout = .milliseconds(500)
        let server = try await TestServer.start(settings: settings)
        defer { Task { try await server.stop() } }
        let result = try await runScenario("idle", port: server.port)
        #expect(result["status"] as? Int == 200)
        #expect(goaway(result)?.code == 0, "\(result)")
        #expect(result["closed"] as? Bool == true)
    }

    @Test("idle timeout never cuts an open stream (long poll); it closes the connection afterwards")
    func idleTimeoutSparesOpenStreams() async throws {
        var settings = HTTP2Settings()
        settings.idleTimeout = .milliseconds(300)
        let server = try await TestServer.start(settings: settings)
        defer { Task { try await server.stop() } }
        let result = try await runScenario("long_poll", port: server.port)
        #expect(result["status"] as? Int == 200 && result["body"] as? String == "late", "\(result)")
        #expect(result["goaway_before"] is NSNull)
        #expect(goaway(result)?.code == 0)
        #expect(result["closed"] as? Bool == true)
    }

    @Test("SETTINGS never acknowledged: GOAWAY(SETTINGS_TIMEOUT) and close")
    func settingsAckTimeout() async throws {
        var settings = HTTP2Settings()
        settings.settingsAckTimeout = .milliseconds(500)
        let server = try await TestServer.start(settings: settings)
        defer { Task { try await server.stop() } }
        let result = try await runScenario("settings_timeout", port: server.port)
        #expect(goaway(result)?.code == 4, "\(result)")
        #expect(result["closed"] as? Bool == true)
    }
}
