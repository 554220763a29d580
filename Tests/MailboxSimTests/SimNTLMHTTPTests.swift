import Foundation
import Testing

@testable import MailboxSimCore

/// NTLM against real clients: requests-ntlm (pyspnego) and curl --ntlm.
@Suite("Sim NTLM over HTTP")
struct SimNTLMHTTPTests {
    /// Authenticates with requests-ntlm, then checks which connections carry X-Sim-User.
    static let script = #"""
        import json, sys, warnings
        import requests, requests_ntlm
        warnings.filterwarnings("ignore")
        url, cafile = sys.argv[1], sys.argv[2]
        verify = cafile if cafile else True
        def new_session():
            # trust_env off: REQUESTS_CA_BUNDLE (and proxy variables) would override session.verify.
            session = requests.Session()
            session.trust_env = False
            session.verify = verify
            return session
        out = {}
        anonymous = new_session().get(url + "/EWS/Exchange.asmx")
        out["anonymous"] = [anonymous.status_code, anonymous.raw.headers.getlist("WWW-Authenticate")]
        session = new_session()
        session.auth = requests_ntlm.HttpNtlmAuth("CONTOSO\\alice", "Passw0rd!")
        first = session.get(url + "/EWS/Exchange.asmx")
        out["first"] = [first.status_code, first.headers.get("X-Sim-User"), first.headers.get("X-Sim-Connection"), len(first.history)]
        later = session.post(url + "/EWS/Exchange.asmx", data=b"<soap/>")
        out["later"] = [later.status_code, later.headers.get("X-Sim-User"), later.headers.get("X-Sim-Connection"), len(later.history)]
        fresh = new_session()
        other = fresh.get(url + "/owa/")
        out["fresh"] = [other.status_code, other.headers.get("X-Sim-User"), other.headers.get("X-Sim-Connection")]
        protected = fresh.get(url + "/mapi/emsmdb/")
        out["freshProtected"] = [protected.status_code, protected.headers.get("X-Sim-User")]
        print(json.dumps(out))
        """#

    @Test(
        "requests-ntlm as CONTOSO\\alice: X-Sim-User on later requests of that connection, not on a fresh one; 401 offers NTLM and Negotiate"
    )
    func requestsNTLM() async throws {
        try await SimHarness.withSim(requireNTLM: true) { sim in
            let result = try await sim.python(Self.script, modules: ["requests", "requests_ntlm", "spnego"], timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            let json = try SimHarness.json(result.stdout)
            let anonymous = json["anonymous"] as? [Any] ?? []
            #expect(anonymous.first as? Int == 401)
            #expect(anonymous.last as? [String] == ["NTLM", "Negotiate"])
            let first = json["first"] as? [Any] ?? []
            #expect(first.count == 4 && first[0] as? Int == 200 && first[1] as? String == "CONTOSO\\alice")
            #expect(first.count == 4 && first[3] as? Int == 2, "the anonymous 401, then the NTLM challenge 401")
            let later = json["later"] as? [Any] ?? []
            #expect(later.count == 4 && later[0] as? Int == 200 && later[1] as? String == "CONTOSO\\alice")
            #expect(later.count == 4 && later[3] as? Int == 0, "no new handshake on the authenticated connection")
            #expect(later.count == 4 && first.count == 4 && later[2] as? String == first[2] as? String, "same TCP connection")
            let fresh = json["fresh"] as? [Any] ?? []
            #expect(fresh.first as? Int == 200)
            #expect(fresh.count == 3 && fresh[1] is NSNull, "a fresh connection is not authenticated")
            #expect(fresh.count == 3 && fresh[2] as? String != first[2] as? String)
            let freshProtected = json["freshProtected"] as? [Any] ?? []
            #expect(freshProtected.first as? Int == 401)
        }
    }

    @Test("curl --ntlm: one challenge round trip, then the connection stays authenticated for the next URL")
    func curlNTLM() async throws {
        try await SimHarness.withSim(requireNTLM: true) { sim in
            let responses = try await sim.curl(
                ["/rpc/rpcproxy.dll?mbx01:6001", "/OAB/g/oab.xml"],
                ["--ntlm", "-u", "CONTOSO\\bob:secret"])
            #expect(responses.map(\.status) == [401, 200, 200])
            #expect(responses.last?.header("X-Sim-User") == "CONTOSO\\bob")
            #expect(responses[0].header("WWW-Authenticate")?.hasPrefix("NTLM TlRMTVNTUAACAAAA") == true)
            let state = try SimHarness.json(try await sim.curl("/_sim/state").body)
            #expect(state["authenticatedConnections"] as? Int == 1)
        }
    }

    /// A SPNEGO-wrapped NTLM handshake with pyspnego (`protocol="negotiate"`) on one connection.
    static let spnegoScript = #"""
        import base64, http.client, json, ssl, sys, urllib.parse
        import spnego
        url, cafile = sys.argv[1], sys.argv[2]
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=ssl.create_default_context(cafile=cafile), timeout=10)
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        client = spnego.client("CONTOSO\\dave", "pw", hostname="mbx01", service="http", protocol="negotiate")
        def send(token):
            headers = {"Authorization": "Negotiate " + base64.b64encode(token).decode()} if token else {}
            connection.request("GET", "/mapi/emsmdb/", headers=headers)
            response = connection.getresponse()
            response.read()
            return response
        first = client.step()
        challenge = send(first)
        value = challenge.getheader("WWW-Authenticate", "")
        answer = client.step(base64.b64decode(value.split(" ", 1)[1]))
        final = send(answer)
        again = send(None)
        print(json.dumps({"wrapped": first[:1].hex(), "challenge": [challenge.status, value[:10]],
                          "final": [final.status, final.getheader("X-Sim-User")], "again": [again.status, again.getheader("X-Sim-User")]}))
        """#

    @Test("Negotiate with SPNEGO-wrapped NTLM (pyspnego) authenticates the connection too")
    func spnego() async throws {
        try await SimHarness.withSim(requireNTLM: true) { sim in
            let result = try await sim.python(Self.spnegoScript, modules: ["spnego"], timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            let json = try SimHarness.json(result.stdout)
            #expect(json["wrapped"] as? String == "60", "the client's first token is SPNEGO, not raw NTLMSSP")
            let challenge = json["challenge"] as? [Any] ?? []
            #expect(challenge.first as? Int == 401)
            #expect(challenge.last as? String == "Negotiate ")
            let final = json["final"] as? [Any] ?? []
            #expect(final.first as? Int == 200)
            #expect(final.last as? String == "CONTOSO\\dave")
            let again = json["again"] as? [Any] ?? []
            #expect(again.first as? Int == 200)
            #expect(again.last as? String == "CONTOSO\\dave")
        }
    }
}
