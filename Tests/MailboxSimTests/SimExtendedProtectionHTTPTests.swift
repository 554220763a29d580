import Foundation
import Testing

@testable import MailboxSimCore

/// Extended Protection over real TLS against independent NTLM implementations: pyspnego computes
/// the channel binding itself from the certificate the client saw (hashlib over the DER bytes),
/// and requests-ntlm sends it on its own over HTTPS. The simulator must accept the right binding
/// and answer a wrong or missing one with IIS's 401 and a fresh challenge list.
@Suite("Sim Extended Protection over HTTP")
struct SimExtendedProtectionHTTPTests {
    /// One NTLM (or SPNEGO) handshake per case on a fresh connection, with the binding given by
    /// argv[3]: "right" (SHA-256 of the peer certificate), "wrong", or "none".
    static let script = #"""
        import base64, hashlib, http.client, json, ssl, sys, urllib.parse
        import spnego
        from spnego.channel_bindings import GssChannelBindings
        url, cafile = sys.argv[1], sys.argv[2]
        parts = urllib.parse.urlsplit(url)
        results = {}
        for protocol in ("ntlm", "negotiate"):
            for kind in ("right", "wrong", "none"):
                for path in ("/mapi/emsmdb/", "/EWS/Exchange.asmx"):
                    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=ssl.create_default_context(cafile=cafile), timeout=10)
                    connection.connect()
                    der = connection.sock.getpeercert(binary_form=True)
                    digest = hashlib.sha256(der).digest() if kind == "right" else hashlib.sha256(b"another certificate").digest()
                    bindings = None if kind == "none" else GssChannelBindings(application_data=b"tls-server-end-point:" + digest)
                    client = spnego.client("CONTOSO\\erin", "pw", hostname="mbx01", service="http", protocol=protocol, channel_bindings=bindings)
                    scheme = "NTLM" if protocol == "ntlm" else "Negotiate"
                    def send(token):
                        connection.request("GET", path, headers={"Authorization": scheme + " " + base64.b64encode(token).decode()})
                        response = connection.getresponse()
                        response.read()
                        return response
                    challenge = send(client.step())
                    header = challenge.getheader("WWW-Authenticate", "")
                    final = send(client.step(base64.b64decode(header.split(" ", 1)[1])))
                    results[protocol + " " + kind + " " + path] = [final.status, final.getheader("X-Sim-User"), final.msg.get_all("WWW-Authenticate") or []]
                    connection.close()
        print(json.dumps(results))
        """#

    @Test(
        "require on MAPI, accept on EWS: pyspnego NTLM and SPNEGO with the right binding log on; wrong is 401 everywhere; none is 401 only under require"
    )
    func pyspnegoBindings() async throws {
        let policy = try ExtendedProtectionPolicy.parse(["require", "ews=accept"])
        try await SimHarness.withSim(requireNTLM: true, extendedProtection: policy) { sim in
            let result = try await sim.python(Self.script, modules: ["spnego"], timeout: 60)
            #expect(result.status == 0, "\(result.stderr)")
            let json = try SimHarness.json(result.stdout)
            for protocolName in ["ntlm", "negotiate"] {
                for (kind, path, allowed) in [
                    ("right", "/mapi/emsmdb/", true), ("right", "/EWS/Exchange.asmx", true),
                    ("wrong", "/mapi/emsmdb/", false), ("wrong", "/EWS/Exchange.asmx", false),
                    ("none", "/mapi/emsmdb/", false), ("none", "/EWS/Exchange.asmx", true)
                ] {
                    let key = "\(protocolName) \(kind) \(path)"
                    let entry = json[key] as? [Any] ?? []
                    #expect(entry.count == 3, "\(key): \(json)")
                    guard entry.count == 3 else { continue }
                    if allowed {
                        #expect(entry[0] as? Int == 200, "\(key)")
                        #expect(entry[1] as? String == "CONTOSO\\erin", "\(key)")
                    } else {
                        #expect(entry[0] as? Int == 401, "\(key)")
                        #expect(entry[1] is NSNull, "\(key): a refused logon leaves the connection anonymous")
                        #expect(entry[2] as? [String] == ["NTLM", "Negotiate"], "\(key): a fresh challenge list, as IIS sends")
                    }
                }
            }
        }
    }

    /// requests-ntlm over HTTPS: it hashes the certificate it sees and sends the binding itself.
    static let requestsScript = #"""
        import json, sys, warnings
        import requests, requests_ntlm
        warnings.filterwarnings("ignore")
        url, cafile = sys.argv[1], sys.argv[2]
        session = requests.Session()
        session.trust_env = False
        session.verify = cafile
        session.auth = requests_ntlm.HttpNtlmAuth("CONTOSO\\frank", "pw")
        response = session.get(url + "/rpc/rpcproxy.dll?mbx01:6001")
        print(json.dumps([response.status_code, response.headers.get("X-Sim-User")]))
        """#

    @Test("requests-ntlm logs on to a simulator that requires Extended Protection everywhere")
    func requestsNTLM() async throws {
        try await SimHarness.withSim(requireNTLM: true, extendedProtection: ExtendedProtectionPolicy(defaultMode: .require)) { sim in
            let result = try await sim.python(Self.requestsScript, modules: ["requests", "requests_ntlm"], timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.text.trimmingCharacters(in: .whitespacesAndNewlines) == #"[200, "CONTOSO\\frank"]"#)
            let state = try SimHarness.json(try await sim.curl("/_sim/state").body)
            #expect(state["extendedProtection"] as? String == "require")
        }
    }
}
