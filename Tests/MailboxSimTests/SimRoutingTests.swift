import NIOHTTP1
import Testing

@testable import MailboxSimCore

/// Path classification and query parsing, without sockets.
@Suite("Sim routing")
struct SimRoutingTests {
    @Test("virtual directories match case-insensitively and only at a segment boundary")
    func owning() {
        #expect(SimService.owning(path: "/ews/Exchange.asmx") == .ews)
        #expect(SimService.owning(path: "/EWS") == .ews)
        #expect(SimService.owning(path: "/EWSX/a") == nil)
        #expect(SimService.owning(path: "/microsoft-server-activesync") == .activesync)
        #expect(SimService.owning(path: "/Microsoft-Server-ActiveSync/default.eas") == .activesync)
        #expect(SimService.owning(path: "/PowerShell/") == .powershell)
        #expect(SimService.owning(path: "/api/v2.0/me") == .api)
        #expect(SimService.owning(path: "/") == nil)
    }

    @Test("health check paths exist for the eight services that have them")
    func healthChecks() {
        #expect(SimService.healthCheck(path: "/OWA/HealthCheck.htm") == .owa)
        #expect(SimService.healthCheck(path: "/Microsoft-Server-ActiveSync/healthcheck.htm") == .activesync)
        #expect(SimService.healthCheck(path: "/powershell/healthcheck.htm") == nil)
        #expect(SimService.allCases.filter(\.hasHealthCheck).count == 8)
        #expect(SimService.named("EWS") == .ews)
        #expect(SimService.named("Microsoft-Server-ActiveSync") == .activesync)
        #expect(SimService.named("nope") == nil)
    }

    @Test("query parameters: bare names, percent-decoding, validated numbers")
    func target() throws {
        let target = SimRequestTarget("/Microsoft-Server-ActiveSync?Cmd=Ping&User=a%40b&sim-echo&sim-hold=0.5")
        #expect(target.path == "/Microsoft-Server-ActiveSync")
        #expect(target.value("cmd") == "Ping")
        #expect(target.value("user") == "a@b")
        #expect(target.has("sim-echo"))
        #expect(try target.seconds("sim-hold", default: 480, range: 0...3600) == 0.5)
        #expect(throws: SimError.self) { try SimRequestTarget("/x?sim-bytes=-4").byteCount("sim-bytes", default: 0) }
        #expect(throws: SimError.self) { try SimRequestTarget("/x?sim-hold=nan").seconds("sim-hold", default: 1, range: 0...10) }
    }

    @Test("--require-ntlm protects EWS, MAPI, OAB and RPC but never health checks")
    func protection() {
        let router = SimRouter(configuration: SimConfiguration(requireNTLM: true), state: SimState())
        func status(_ uri: String, user: String? = nil) -> UInt {
            switch router.plan(for: HTTPRequestHead(version: .http1_1, method: .GET, uri: uri), user: user) {
            case .respond(let response): response.status.code
            default: 200
            }
        }
        for uri in ["/EWS/Exchange.asmx", "/mapi/emsmdb/", "/OAB/x/oab.xml", "/rpc/rpcproxy.dll"] {
            #expect(status(uri) == 401, "\(uri)")
            #expect(status(uri, user: "CONTOSO\\alice") == 200, "\(uri)")
        }
        #expect(status("/ews/healthcheck.htm") == 200)
        #expect(status("/owa/") == 200)
        #expect(status("/nowhere") == 404)
        #expect(status("/") == 302)
    }

    @Test("listen addresses parse with clear errors")
    func listen() throws {
        #expect(try ListenAddress.parse("127.0.0.1:9444") == ("127.0.0.1", 9444))
        #expect(try ListenAddress.parse("[::1]:0") == ("::1", 0))
        #expect(throws: SimError.self) { try ListenAddress.parse("127.0.0.1") }
        #expect(throws: SimError.self) { try ListenAddress.parse("127.0.0.1:99999") }
    }
}
