/// Everything a mailbox simulator needs to know at start-up: who it pretends to be, where it
/// listens, and which behaviours are switched on.
public struct SimConfiguration: Sendable {
    /// The short server name (`mbx01`): sent as `X-BEServer` and used as the NetBIOS computer name.
    public var name: String
    /// The fully qualified name (`mbx01.contoso.lab`): the body of healthcheck.htm and the NTLM DNS names.
    public var fqdn: String
    /// Listening address; port 0 picks an ephemeral port (tests).
    public var host: String
    /// Listening port; 0 picks an ephemeral port.
    public var port: Int
    /// When true, /EWS/, /mapi/, /OAB/ and /rpc/ answer 401 to connections not authenticated by NTLM.
    public var requireNTLM: Bool
    /// The size of every OAB `.lzx` file unless the request says `sim-bytes=N`.
    public var oabSize: UInt64
    /// Extended Protection per virtual directory (off everywhere unless configured).
    public var extendedProtection: ExtendedProtectionPolicy
    /// The `MsvAvChannelBindings` value a client that saw this server's own certificate sends: MD5
    /// of the GSS channel bindings of its `tls-server-end-point` hash. nil without TLS.
    public var channelBindingToken: [UInt8]?

    /// Creates a configuration; defaults match `mailbox-sim` without options.
    public init(
        name: String = "mbx01", fqdn: String? = nil, host: String = "127.0.0.1", port: Int = 9444,
        requireNTLM: Bool = false, oabSize: UInt64 = 16 << 20,
        extendedProtection: ExtendedProtectionPolicy = ExtendedProtectionPolicy(), channelBindingToken: [UInt8]? = nil
    ) {
        self.name = name
        self.fqdn = fqdn ?? "\(name).contoso.lab"
        self.host = host
        self.port = port
        self.requireNTLM = requireNTLM
        self.oabSize = oabSize
        self.extendedProtection = extendedProtection
        self.channelBindingToken = channelBindingToken
    }

    /// The DNS domain: the FQDN without its first label (`contoso.lab`), or the FQDN itself when it has one label.
    public var dnsDomain: String {
        guard let dot = fqdn.firstIndex(of: ".") else { return fqdn }
        return String(fqdn[fqdn.index(after: dot)...])
    }

    /// The NetBIOS domain name: the first label of the DNS domain, upper-cased (`CONTOSO`).
    public var netBIOSDomain: String {
        String(dnsDomain.split(separator: ".").first ?? Substring(dnsDomain)).uppercased()
    }

    /// The NetBIOS computer name: the server name, upper-cased (`MBX01`).
    public var netBIOSComputer: String { name.uppercased() }
}

/// Parsing `host:port` listen addresses for the command line, with errors that say what is wrong.
public enum ListenAddress {
    /// Splits `127.0.0.1:9444` or `[::1]:9444` into host and port.
    public static func parse(_ text: String) throws -> (host: String, port: Int) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                text[text.index(after: close)...].hasPrefix(":")
            else {
                throw SimError("--listen '\(text)': expected [IPv6]:PORT, e.g. [::1]:9444")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw SimError("--listen '\(text)': expected HOST:PORT, e.g. 127.0.0.1:9444")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw SimError("--listen '\(text)': the host is empty") }
        guard let port = Int(portPart), (0...65535).contains(port) else {
            throw SimError("--listen '\(text)': the port '\(portPart)' is not a number from 0 to 65535")
        }
        return (String(hostPart), port)
    }
}

/// An error with a message for people (CLI, start-up).
public struct SimError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, and where.
    public var message: String
    /// Creates an error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
