import Foundation
import GatehouseHTTP1
import NIOCore
import NIOHTTP1

@testable import Gatehouse

/// Fuzzes the parsing of client credentials: the NTLM AUTHENTICATE reader behind the access log's
/// user name (`ClientIdentity`), and the scheme test that pins a backend connection to one client
/// (`ConnectionAuthentication`).
///
/// Input: an NTLM token (seeds: NEGOTIATE and AUTHENTICATE messages, bare and SPNEGO-wrapped), also
/// read as an `Authorization` value.
///
/// Invariants: never a crash; the `NTLM` and `Negotiate` headers carrying the token base64-encoded
/// claim exactly the user `ntlmUser` reads from it, never an empty or oversized name; a Basic claim
/// stops at the colon; the user, written by each access-log format, is printable ASCII (no forged
/// line) and the JSON string decodes back to it; the pinning test agrees with a plain reading of
/// RFC 9110's challenge list on every form (bytes, String, each header line).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNTLM(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let token = Array(UnsafeBufferPointer(start: data, count: size))
    let user = ClientIdentity.ntlmUser(inToken: token)
    if let user {
        precondition(!user.isEmpty, "an empty NTLM user")
        precondition(user.utf16.count <= ClientIdentity.maxNameBytes + 1, "an NTLM user longer than two fields")
        checkLogged(user)
    }
    let encoded = Data(token).base64EncodedString()
    for scheme in ["NTLM", "Negotiate", "negotiate"] {
        let claim = ClientIdentity.claim(authorization: "\(scheme) \(encoded)")
        precondition(claim == user.map { .ntlm($0) }, "\(scheme): claim \(String(describing: claim)) but token user \(user ?? "-")")
    }
    if case .basic(let name)? = ClientIdentity.claim(authorization: "Basic \(encoded)") {
        precondition(!name.isEmpty && !name.contains(":"), "a Basic user with a colon: \(name)")
        checkLogged(name)
    }

    let value = String(decoding: token, as: UTF8.self)
    let expected = namesConnectionBoundScheme(value)
    precondition(ConnectionAuthentication.isConnectionBound(value) == expected, "isConnectionBound(\(value)) is wrong")
    var headers = HTTPHeaders()
    headers.add(name: "Accept", value: "*/*")
    headers.add(name: "AUTHORIZATION", value: value)
    precondition(ConnectionAuthentication.anyConnectionBound(headers, name: "authorization") == expected)
    return 0
}

/// The reference reading: a comma-separated list whose elements start (after whitespace) with a
/// scheme ending at whitespace; connection-bound when one of them is NTLM or Negotiate.
func namesConnectionBoundScheme(_ value: String) -> Bool {
    value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).contains { element in
        let scheme = element.drop { $0 == 0x20 || $0 == 0x09 }.prefix { $0 != 0x20 && $0 != 0x09 }
        let lowered = String(decoding: scheme.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        return lowered == "ntlm" || lowered == "negotiate"
    }
}

/// Traps unless every access-log format writes `user` as printable ASCII that means `user`.
func checkLogged(_ user: String) {
    var text = ByteBuffer()
    AccessLogText.writeEscaped(user, to: &text, escapingSpace: true)
    // Copied out once: iterating a ByteBufferView byte by byte is slow in the debug build.
    precondition(Array(text.readableBytesView).allSatisfy { $0 > 0x20 && $0 <= 0x7E }, "the text log writes \(user) unescaped")

    var w3c = ByteBuffer()
    AccessLogW3C.writeField(user, to: &w3c)
    let w3cBytes = Array(w3c.readableBytesView)
    let field = w3cBytes.dropLast()
    precondition(w3cBytes.last == 0x20, "the W3C field does not end in its separator")
    precondition(field.allSatisfy { $0 > 0x20 && $0 <= 0x7E }, "the W3C log writes \(user) unescaped")

    var json = ByteBuffer(string: "[")
    AccessLogJSON.writeString(user, to: &json)
    json.writeString("]")
    let jsonBytes = Array(json.readableBytesView)
    precondition(jsonBytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "the JSON log writes \(user) unescaped")
    let decoded = try? JSONSerialization.jsonObject(with: Data(jsonBytes)) as? [String]
    precondition(decoded == [user], "the JSON log's string for \(user) decodes to \(String(describing: decoded))")
}
