import GatehouseHTTP1
import NIOHTTP1
import Testing

/// The one rule both protocols use to decide that a request authenticates its connection.
@Suite struct ConnectionAuthenticationTests {
    private func bound(_ value: String) -> Bool { ConnectionAuthentication.isConnectionBound(value) }

    @Test("NTLM and Negotiate in any case, with a space, a tab or nothing after the scheme")
    func schemes() {
        #expect(bound("NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="))
        #expect(bound("ntlm TlRMTVNTUAAB"))
        #expect(bound("Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag"))
        #expect(bound("NEGOTIATE YII"))
        #expect(bound("Negotiate\tYII"))
        #expect(bound("NTLM\tTlRM"))
        #expect(bound("NTLM"))
        #expect(bound("negotiate"))
        #expect(bound("  NTLM abc"))
        #expect(bound("\tNegotiate abc"))
    }

    @Test("other schemes and look-alike tokens are not connection-bound")
    func otherSchemes() {
        #expect(!bound("Basic dXNlcjpwYXNz"))
        #expect(!bound("Bearer eyJ0eXAi"))
        #expect(!bound("NTLMX abc"))
        #expect(!bound("XNTLM abc"))
        #expect(!bound("Negotiate2 abc"))
        #expect(!bound("Bearer NTLM"))  // a credential that happens to read NTLM is not a scheme
        #expect(!bound(""))
        #expect(!bound("   "))
    }

    @Test("a WWW-Authenticate challenge list counts when any of its schemes is")
    func challengeLists() {
        #expect(bound("Basic realm=\"x\", NTLM"))
        #expect(bound("Negotiate, NTLM"))
        #expect(!bound("Basic realm=\"mail\", Bearer"))
    }

    @Test("every field of the name counts, not only the first, with the name in any case")
    func everyLine() {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Basic dXNlcjpwYXNz")
        headers.add(name: "AUTHORIZATION", value: "Negotiate\tYII")
        #expect(ConnectionAuthentication.anyConnectionBound(headers, name: "authorization"))
        var plain = HTTPHeaders()
        plain.add(name: "Authorization", value: "Basic dXNlcjpwYXNz")
        plain.add(name: "X-Authorization", value: "NTLM abc")
        #expect(!ConnectionAuthentication.anyConnectionBound(plain, name: "authorization"))
    }
}
