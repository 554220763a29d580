/// What a PROXY protocol header (HAProxy's v1 text or v2 binary form) says about a connection that
/// an L4 balancer accepted and relayed: the real client's address, or nothing (v1 `UNKNOWN`, v2
/// `LOCAL`, `UNSPEC` or `AF_UNIX`), in which case the connection's own peer address stands.
public struct ProxyHeader: Sendable, Hashable {
    /// The wire form the header was written in.
    public enum Version: Sendable, Hashable {
        /// `PROXY TCP4 ...\r\n`, at most 107 bytes.
        case v1
        /// The 12-byte signature, then a binary address block and TLVs.
        case v2
    }

    /// One end of the relayed TCP connection.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var address: IPAddress
        public var port: Int

        public init(address: IPAddress, port: Int) {
            self.address = address
            self.port = port
        }

        public var description: String { address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
    }

    public var version: Version
    /// The client the balancer accepted; nil when the header names no IP client (health checks
    /// from the balancer itself, Unix sockets, unknown protocols): use the real peer address.
    public var source: Endpoint?
    /// The address the client connected to on the balancer; nil together with `source`.
    public var destination: Endpoint?

    public init(version: Version, source: Endpoint? = nil, destination: Endpoint? = nil) {
        self.version = version
        self.source = source
        self.destination = destination
    }
}

/// Why bytes are not a valid PROXY header, in words fit for a log line.
public enum ProxyProtocolError: String, Sendable, Hashable, Error, CustomStringConvertible {
    /// The first bytes match neither the v1 `PROXY ` nor the v2 signature.
    case noSignature = "no PROXY protocol signature"
    /// A v1 line longer than 107 bytes, or a v2 header whose length field exceeds the cap.
    case tooLong = "header too long"
    /// A v1 line with a control or non-ASCII byte, or a CR not followed by LF.
    case badCharacter = "invalid character in v1 header"
    /// A v1 protocol other than TCP4, TCP6 or UNKNOWN.
    case unknownProtocol = "unknown v1 protocol (expected TCP4, TCP6 or UNKNOWN)"
    /// A v1 line that is not `PROXY proto src dst sport dport` with single spaces.
    case badFields = "malformed v1 fields"
    /// A v1 address that does not parse, or is not of the family the protocol names.
    case badAddress = "invalid address"
    /// A v1 port that is not a decimal number from 0 to 65535 without leading zeros.
    case badPort = "invalid port"
    /// A v2 version nibble other than 2.
    case badVersion = "unsupported v2 version"
    /// A v2 command other than LOCAL (0) or PROXY (1).
    case unknownCommand = "unknown v2 command"
    /// A v2 address family other than UNSPEC, INET, INET6 or UNIX.
    case unknownFamily = "unknown v2 address family"
    /// A v2 transport other than STREAM (or UNSPEC with family UNSPEC): datagrams are not relayed over TCP.
    case unsupportedTransport = "unsupported v2 transport (only STREAM)"
    /// A v2 length field shorter than the address block its family needs.
    case shortAddressBlock = "v2 length too short for its address family"
    /// A v2 TLV whose length runs past the end of the header.
    case badTLV = "v2 TLV runs past the end of the header"

    public var description: String { rawValue }
}

/// The outcome of parsing the bytes received so far on a connection.
public enum ProxyParseResult: Sendable, Hashable {
    /// The bytes so far are a valid beginning of a header: read more.
    case needMore
    /// A complete header occupying the first `consumed` bytes; the rest belongs to the client's
    /// own protocol (TLS or HTTP) and must be passed on unchanged.
    case header(ProxyHeader, consumed: Int)
    /// The bytes cannot be (the start of) a valid header.
    case invalid(ProxyProtocolError)
}
