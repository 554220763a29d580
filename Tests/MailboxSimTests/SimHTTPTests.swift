import Foundation
import GatehouseTLS
import Testing

@testable import MailboxSimCore

/// The simulator over real sockets, driven by curl.
@Suite("Sim over HTTP")
struct SimHTTPTests {
    static let healthVDirs = ["owa", "ECP", "rpc", "MAPI", "ews", "oab", "Autodiscover", "Microsoft-Server-ActiveSync"]

    @Test(
        "every vdir's healthcheck.htm answers 200 OK<br/><fqdn> with X-BEServer, on one kept-alive connection (TLS and --plain)",
        arguments: [false, true])
    func healthChecks(plain: Bool) async throws {
        try await SimHarness.withSim(plain: plain) { sim in
            #expect(sim.url.hasPrefix(plain ? "http://" : "https://"))
            let responses = try await sim.curl(Self.healthVDirs.map { "/\($0)/healthcheck.htm" })
            #expect(responses.count == Self.healthVDirs.count)
            for (vdir, response) in zip(Self.healthVDirs, responses) {
                #expect(response.status == 200, "\(vdir)")
                #expect(response.text == "200 OK<br/>mbx01.contoso.lab", "\(vdir)")
                #expect(response.header("X-BEServer") == "mbx01", "\(vdir)")
            }
            // curl reuses one connection for all URLs: one X-Sim-Connection value.
            #expect(Set(responses.compactMap { $0.header("X-Sim-Connection") }).count == 1)
        }
    }

    @Test("TLS: the self-signed certificate verifies for the server's FQDN (as a front end's BackendTrust would check)")
    func tlsHostName() async throws {
        try await SimHarness.withSim { sim in
            let port = sim.server.port
            let result = try await ExternalClient.curl(
                sim.curlTrust + [
                    "-i", "--resolve", "mbx01.contoso.lab:\(port):127.0.0.1",
                    "https://mbx01.contoso.lab:\(port)/EWS/healthcheck.htm"
                ])
            #expect(result.status == 0, "\(result.stderr)")
            let response = try CurlResponse.parseAll(result.stdout).first
            #expect(response?.status == 200)
            #expect(response?.text == "200 OK<br/>mbx01.contoso.lab")
        }
    }

    @Test("offline/online per service and for the whole server drive healthcheck.htm and /_sim/state")
    func maintenance() async throws {
        try await SimHarness.withSim { sim in
            func health(_ vdir: String) async throws -> Int { try await sim.curl("/\(vdir)/healthcheck.htm").status }

            #expect(try await sim.curl("/_sim/offline?service=ews", ["-X", "POST"]).status == 200)
            #expect(try await health("EWS") == 503)
            #expect(try await health("owa") == 200)
            let state = try SimHarness.json(try await sim.curl("/_sim/state").body)
            #expect(state["offlineServices"] as? [String] == ["ews"])
            #expect((state["healthy"] as? [String: Bool])?["ews"] == false)

            #expect(try await sim.curl("/_sim/offline", ["-X", "POST"]).status == 200)
            for vdir in Self.healthVDirs { #expect(try await health(vdir) == 503, "\(vdir)") }
            #expect(try await sim.curl("/_sim/online", ["-X", "POST"]).status == 200)
            #expect(try await health("owa") == 200)
            #expect(try await health("ews") == 503, "a service taken offline by itself stays offline")
            #expect(try await sim.curl("/_sim/online?service=EWS", ["-X", "POST"]).status == 200)
            #expect(try await health("ews") == 200)

            let unknown = try await sim.curl("/_sim/offline?service=exchange", ["-X", "POST"])
            #expect(unknown.status == 400)
            #expect(unknown.text.contains("unknown service 'exchange'"))
        }
    }

    @Test("sim-echo returns the method, target and every header exactly as received (case, order, duplicates)")
    func echo() async throws {
        try await SimHarness.withSim { sim in
            let response = try await sim.curl(
                "/EWS/Exchange.asmx?sim-echo&x=1",
                [
                    "-H", "x-lower: one", "-H", "X-UPPER: two", "-H", "X-Dup: a", "-H", "x-dup: b",
                    "-H", "X-AnchorMailbox: alice@contoso.lab", "-H", "Cookie: X-BackEndCookie=abc; other=1"
                ])
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            let json = try SimHarness.json(response.body)
            #expect(json["method"] as? String == "GET")
            #expect(json["uri"] as? String == "/EWS/Exchange.asmx?sim-echo&x=1")
            let headers = (json["headers"] as? [[String]]) ?? []
            let hostPort = sim.url.split(separator: "/").last.map(String.init) ?? ""
            #expect(
                headers == [
                    ["Host", hostPort], ["User-Agent", headers.count > 1 ? headers[1][1] : ""], ["Accept", "*/*"],
                    ["x-lower", "one"], ["X-UPPER", "two"], ["X-Dup", "a"], ["x-dup", "b"],
                    ["X-AnchorMailbox", "alice@contoso.lab"], ["Cookie", "X-BackEndCookie=abc; other=1"]
                ])
        }
    }

    @Test("POST bodies are hashed as they stream: Content-Length with 100-continue, chunked, and RPC_IN_DATA")
    func postHash() async throws {
        var generator = SystemRandomNumberGenerator()
        // Random bytes, eight at a time, then trimmed to a length that is no multiple of anything.
        var body = Data(capacity: (1 << 20) + 24)
        while body.count < (1 << 20) + 17 { withUnsafeBytes(of: generator.next()) { body.append(contentsOf: $0) } }
        body = body.prefix((1 << 20) + 17)
        let hasher = SHA256Hasher()
        body.withUnsafeBytes { hasher.update($0) }
        let expected = hasher.finalize()
        try await SimHarness.withSim { sim in
            let variants: [(String, [String])] = [
                ("/EWS/Exchange.asmx", ["-H", "Expect: 100-continue"]),
                ("/mapi/emsmdb/?MailboxId=a@b", ["-H", "Transfer-Encoding: chunked", "-H", "X-RequestType: Execute"]),
                ("/rpc/rpcproxy.dll?mbx01:6001", ["-X", "RPC_IN_DATA"])
            ]
            for (path, extra) in variants {
                let response = try await sim.curl(path, extra + ["--data-binary", "@-"], stdin: body)
                #expect(response.status == 200, "\(path)")
                let json = try SimHarness.json(response.body)
                #expect(json["bytes"] as? Int == body.count, "\(path)")
                #expect(json["sha256"] as? String == expected, "\(path)")
            }
        }
    }

    @Test("sim-bytes streams N deterministic bytes with Content-Length to a slow reader; RPC_OUT_DATA defaults to 1 MiB")
    func streams() async throws {
        try await SimHarness.withSim { sim in
            let count = (16 << 20) + 7
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mbxsim-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("download").path
            // A rate-limited reader makes the server wait for writability many times.
            let result = try await ExternalClient.curl(
                sim.curlTrust + [
                    "-D", "-", "-o", file, "--limit-rate", "32M",
                    sim.url + "/owa/anything?sim-bytes=\(count)"
                ], timeout: 40)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.text.lowercased().contains("content-length: \(count)"))
            let hasher = SHA256Hasher()
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(data.count == count)
            data.withUnsafeBytes { hasher.update($0) }
            #expect(hasher.finalize() == SimHarness.patternDigest(count))

            let rpc = try await sim.curl("/rpc/rpcproxy.dll?mbx01:6001", ["-X", "RPC_OUT_DATA"])
            #expect(rpc.status == 200)
            #expect(rpc.body.count == 1 << 20)
            #expect(rpc.header("Content-Length") == String(1 << 20))
            #expect(rpc.body.prefix(300) == Data(SimPattern.bytes(count: 300)))
        }
    }

    @Test("OAB: oab.xml is small XML; .lzx files are octet-stream of --oab-size bytes or sim-bytes")
    func oab() async throws {
        try await SimHarness.withSim(oabSize: 300_001) { sim in
            let manifest = try await sim.curl("/OAB/0c5a8f8e-1111-2222-3333-444455556666/oab.xml")
            #expect(manifest.status == 200)
            #expect(manifest.header("Content-Type") == "text/xml")
            #expect(manifest.text.contains("size=\"300001\""))
            let lzx = try await sim.curl("/oab/0c5a8f8e-1111-2222-3333-444455556666/0c5a8f8e-data-1.lzx")
            #expect(lzx.header("Content-Type") == "application/octet-stream")
            #expect(lzx.body.count == 300_001)
            let small = try await sim.curl("/OAB/g/x.lzx?sim-bytes=10")
            #expect(small.body == Data(SimPattern.bytes(count: 10)))
        }
    }

    @Test("every preset path answers with X-BEServer; OWA's page is ~20 KiB of text/html; unknown paths 404")
    func presets() async throws {
        try await SimHarness.withSim { sim in
            let paths = [
                "/autodiscover/autodiscover.json?Email=a@contoso.lab&Protocol=ActiveSync", "/EWS/Exchange.asmx",
                "/Microsoft-Server-ActiveSync", "/owa/", "/ecp/", "/mapi/", "/OAB/", "/rpc/rpcproxy.dll",
                "/powershell", "/API/v2.0/me"
            ]
            let responses = try await sim.curl(paths)
            #expect(responses.count == paths.count)
            for (path, response) in zip(paths, responses) {
                #expect(response.status == 200, "\(path)")
                #expect(response.header("X-BEServer") == "mbx01", "\(path)")
            }
            let owa = responses[3]
            #expect(owa.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect((18_000...22_000).contains(owa.body.count))
            #expect(try await sim.curl("/nothing-here").status == 404)
            let root = try await sim.curl("/")
            #expect(root.status == 302)
            #expect(root.header("Location") == "/owa/")
        }
    }

    @Test("X-Sim-Connection is per TCP connection; Connection: close is honoured; bad requests get 400 with a reason")
    func connections() async throws {
        try await SimHarness.withSim { sim in
            let first = try await sim.curl("/owa/healthcheck.htm")
            let second = try await sim.curl("/owa/healthcheck.htm")
            #expect(first.header("X-Sim-Connection") != nil)
            #expect(first.header("X-Sim-Connection") != second.header("X-Sim-Connection"))
            let closing = try await sim.curl("/owa/healthcheck.htm", ["-H", "Connection: close"])
            #expect(closing.header("Connection") == "close")
            let bad = try await sim.curl("/owa/?sim-bytes=lots")
            #expect(bad.status == 400)
            #expect(bad.text.contains("sim-bytes"))
            let badToken = try await sim.curl("/owa/", ["-H", "Authorization: NTLM %%%"])
            #expect(badToken.status == 400)
            #expect(badToken.text.contains("base64"))
        }
    }
}
