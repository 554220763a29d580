/// Just enough SPNEGO (RFC 4178) to carry NTLM inside `Negotiate`, as Windows clients and
/// pyspnego's `protocol="negotiate"` send it: unwrap the NTLM token from a NegTokenInit or
/// NegTokenResp, and wrap the server's CHALLENGE in a NegTokenResp. Kerberos is not emulated.
enum SPNEGO {
    /// 1.3.6.1.5.5.2, the SPNEGO mechanism.
    static let spnegoOID: [UInt8] = [0x2B, 0x06, 0x01, 0x05, 0x05, 0x02]
    /// 1.3.6.1.4.1.311.2.2.10, NTLMSSP.
    static let ntlmOID: [UInt8] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0A]

    /// negState values.
    enum State: UInt8 {
        case acceptCompleted = 0
        case acceptIncomplete = 1
    }

    /// True when `bytes` looks like a SPNEGO token (InitialContextToken or NegTokenResp).
    static func isWrapped(_ bytes: [UInt8]) -> Bool {
        bytes.first == 0x60 || bytes.first == 0xA1
    }

    /// The NTLM message inside a SPNEGO token.
    static func unwrap(_ bytes: [UInt8]) throws -> [UInt8] {
        var outer = DERReader(bytes[...])
        let token = try outer.read()
        switch token.tag {
        case 0x60:
            // InitialContextToken: OID, then [0] NegTokenInit.
            var inner = DERReader(token.value)
            let oid = try inner.read(expecting: 0x06, what: "SPNEGO mechanism OID")
            guard Array(oid) == spnegoOID else { throw NTLMError("Negotiate token is not SPNEGO (Kerberos is not emulated)") }
            var initToken = DERReader(try inner.read(expecting: 0xA0, what: "NegTokenInit"))
            var fields = DERReader(try initToken.read(expecting: 0x30, what: "NegTokenInit sequence"))
            var mechanisms: [[UInt8]] = []
            var mechToken: [UInt8]?
            while !fields.isAtEnd {
                let field = try fields.read()
                switch field.tag {
                case 0xA0:
                    var list = DERReader(try DERReader(field.value).readOnly(expecting: 0x30, what: "mechTypes"))
                    while !list.isAtEnd { mechanisms.append(Array(try list.read(expecting: 0x06, what: "mechType"))) }
                case 0xA2:
                    mechToken = Array(try DERReader(field.value).readOnly(expecting: 0x04, what: "mechToken"))
                default:
                    continue
                }
            }
            guard mechanisms.first == ntlmOID, let mechToken else {
                throw NTLMError("Negotiate: SPNEGO offers no NTLM token first (Kerberos is not emulated; offer NTLM)")
            }
            return mechToken
        case 0xA1:
            var fields = DERReader(try DERReader(token.value).readOnly(expecting: 0x30, what: "NegTokenResp sequence"))
            while !fields.isAtEnd {
                let field = try fields.read()
                if field.tag == 0xA2 {
                    return Array(try DERReader(field.value).readOnly(expecting: 0x04, what: "responseToken"))
                }
            }
            throw NTLMError("Negotiate: SPNEGO NegTokenResp carries no responseToken")
        default:
            throw NTLMError("Negotiate token is neither SPNEGO nor NTLMSSP")
        }
    }

    /// A NegTokenResp with `state`, naming NTLM as the chosen mechanism and carrying `token` if any.
    static func response(state: State, token: [UInt8]?) -> [UInt8] {
        var fields = DERWriter.element(0xA0, DERWriter.element(0x0A, [state.rawValue]))
        fields += DERWriter.element(0xA1, DERWriter.element(0x06, ntlmOID))
        if let token { fields += DERWriter.element(0xA2, DERWriter.element(0x04, token)) }
        return DERWriter.element(0xA1, DERWriter.element(0x30, fields))
    }
}

/// Reads DER tag-length-value elements with bounds checks (bad input becomes `NTLMError`).
struct DERReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { bytes.isEmpty }

    /// Reads the next element (single-byte tags only, which is all SPNEGO uses).
    mutating func read() throws -> (tag: UInt8, value: ArraySlice<UInt8>) {
        guard bytes.count >= 2 else { throw NTLMError("Negotiate: truncated SPNEGO token") }
        let tag = bytes.removeFirst()
        let first = bytes.removeFirst()
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard (1...3).contains(count), bytes.count >= count else { throw NTLMError("Negotiate: bad DER length in SPNEGO token") }
            for _ in 0..<count { length = length << 8 | Int(bytes.removeFirst()) }
        }
        guard length <= bytes.count else { throw NTLMError("Negotiate: SPNEGO element longer than the token") }
        let value = bytes.prefix(length)
        bytes = bytes.dropFirst(length)
        return (tag, value)
    }

    /// Reads the next element, which must have `tag`.
    mutating func read(expecting tag: UInt8, what: String) throws -> ArraySlice<UInt8> {
        let element = try read()
        guard element.tag == tag else { throw NTLMError("Negotiate: SPNEGO \(what) has an unexpected tag") }
        return element.value
    }

    /// The value of the single element these bytes hold.
    func readOnly(expecting tag: UInt8, what: String) throws -> ArraySlice<UInt8> {
        var copy = self
        return try copy.read(expecting: tag, what: what)
    }
}

/// Writes DER tag-length-value elements.
enum DERWriter {
    static func element(_ tag: UInt8, _ value: [UInt8]) -> [UInt8] {
        let count = value.count
        let length: [UInt8] =
            count < 0x80
            ? [UInt8(count)]
            : count <= 0xFF
                ? [0x81, UInt8(count)]
                : [0x82, UInt8(count >> 8), UInt8(count & 0xFF)]
        return [tag] + length + value
    }
}
