import Foundation
import Testing

@testable import MailboxSimCore

/// Long-lived Exchange requests: ActiveSync Ping holds and MAPI NotificationWait keep-alive lines.
@Suite("Sim long polls")
struct SimLongPollTests {
    /// Reads a chunked NotificationWait response line by line, noting when each line arrived.
    static let notificationScript = #"""
        import http.client, json, ssl, sys, time, urllib.parse
        url, cafile = sys.argv[1], sys.argv[2]
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=cafile)
            context.check_hostname = False
            connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        start = time.monotonic()
        connection.request("POST", "/mapi/emsmdb/?MailboxId=alice@contoso.lab&sim-interval=0.3&sim-duration=0.9",
                           body=b"\x00" * 32, headers={"X-RequestType": "NotificationWait", "Content-Type": "application/mapi-http"})
        response = connection.getresponse()
        head_at = time.monotonic() - start
        lines = []
        while True:
            line = response.readline()
            if not line:
                break
            lines.append([line.decode().strip(), time.monotonic() - start])
        print(json.dumps({"status": response.status, "type": response.getheader("Content-Type"),
                          "te": response.getheader("Transfer-Encoding"), "head": head_at, "lines": lines}))
        """#

    @Test("NotificationWait: chunked application/mapi-http, PENDING lines spaced by the interval, then DONE")
    func notificationWait() async throws {
        try await SimHarness.withSim { sim in
            let result = try await sim.python(Self.notificationScript, timeout: 20)
            #expect(result.status == 0, "\(result.stderr)")
            let json = try SimHarness.json(result.stdout)
            #expect(json["status"] as? Int == 200)
            #expect(json["type"] as? String == "application/mapi-http")
            #expect((json["te"] as? String)?.lowercased() == "chunked")
            let lines = (json["lines"] as? [[Any]]) ?? []
            #expect(lines.compactMap { $0.first as? String } == ["PENDING", "PENDING", "PENDING", "DONE"])
            let times = lines.compactMap { $0.last as? Double }
            let head = json["head"] as? Double ?? 1
            if times.count == 4 {
                // The head arrives on its own, well before the first PENDING: nothing is buffered.
                #expect(times[0] - head >= 0.15)
                // Line k cannot arrive before k x 0.3 s after the request was sent (times count from
                // before sending); lower bounds only, so a loaded machine cannot make this flaky.
                for (index, time) in times.prefix(3).enumerated() {
                    #expect(time >= 0.3 * Double(index + 1) - 0.01, "PENDING \(index + 1) at \(time) s")
                }
                #expect(times[3] >= 0.89, "DONE after the duration")
            }
        }
    }

    @Test("ActiveSync Ping is held for sim-hold seconds, then answered 200 with a WBXML Ping status")
    func pingHold() async throws {
        try await SimHarness.withSim { sim in
            let result = try await ExternalClient.curl(
                sim.curlTrust + [
                    "-o", "/dev/null", "-w", "%{http_code} %{content_type} %{size_download} %{time_total}",
                    "-X", "POST", "-H", "Content-Type: application/vnd.ms-sync.wbxml", "--data-binary", "x",
                    sim.url + "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=D1&DeviceType=iPhone&sim-hold=0.6"
                ])
            let fields = result.text.split(separator: " ")
            #expect(fields.count == 4, "\(result.text) \(result.stderr)")
            guard fields.count == 4 else { return }
            #expect(fields[0] == "200")
            #expect(fields[1] == "application/vnd.ms-sync.wbxml")
            #expect(Int(fields[2]) == SimContent.pingResponse.count)
            #expect((Double(fields[3]) ?? 0) >= 0.55, "held for the heartbeat")
        }
    }

    @Test("a held Ping whose client goes away leaves the server serving (timer cancelled, connection counted closed)")
    func pingAbandoned() async throws {
        try await SimHarness.withSim { sim in
            let result = try await ExternalClient.curl(
                sim.curlTrust + [
                    "--max-time", "1", "-X", "POST", "--data-binary", "x",
                    sim.url + "/Microsoft-Server-ActiveSync?Cmd=Ping&sim-hold=30"
                ], timeout: 1)
            #expect(result.status != 0, "curl gave up before the hold ended")
            let health = try await sim.curl("/Microsoft-Server-ActiveSync/healthcheck.htm")
            #expect(health.status == 200)
            // The abandoned connection is gone; only the health check's may still be counted as open.
            var open = sim.state.snapshot.connectionsOpen
            for _ in 0..<50 where open > 1 {
                try await Task.sleep(for: .milliseconds(20))
                open = sim.state.snapshot.connectionsOpen
            }
            #expect(open <= 1)
        }
    }
}
