/// An NTLM CHALLENGE (type 2) message as a Windows server would send it (MS-NLMP 2.2.1.2):
/// a random server challenge, flags echoing the client's, the target name and target-info AV pairs.
struct NTLMChallenge {
    /// The 8-byte server challenge.
    var serverChallenge: [UInt8]
    var flags: UInt32
    /// NetBIOS domain (`CONTOSO`), also the target name.
    var netBIOSDomain: String
    var netBIOSComputer: String
    var dnsDomain: String
    var dnsComputer: String
    /// FILETIME: 100 ns intervals since 1601-01-01.
    var timestamp: UInt64

    /// AV pair ids (MS-NLMP 2.2.2.1).
    enum AvId: UInt16 {
        case eol = 0
        case nbComputerName = 1
        case nbDomainName = 2
        case dnsComputerName = 3
        case dnsDomainName = 4
        case dnsTreeName = 5
        case timestamp = 7
    }

    /// Builds the challenge answering `negotiate` for the server described by `configuration`.
    init(
        answering negotiate: NTLMNegotiate, configuration: SimConfiguration,
        serverChallenge: [UInt8]? = nil, now: Double
    ) {
        var generator = SystemRandomNumberGenerator()
        self.serverChallenge = serverChallenge ?? (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let charset = negotiate.flags & NTLMFlag.unicode != 0 ? NTLMFlag.unicode : NTLMFlag.oem
        flags =
            (negotiate.flags & NTLMFlag.echoed & ~NTLMFlag.unicode) | charset
            | NTLMFlag.ntlm | NTLMFlag.targetTypeDomain | NTLMFlag.targetInfo | NTLMFlag.requestTarget
        netBIOSDomain = configuration.netBIOSDomain
        netBIOSComputer = configuration.netBIOSComputer
        dnsDomain = configuration.dnsDomain
        dnsComputer = configuration.fqdn
        timestamp = UInt64((now + 11_644_473_600) * 10_000_000)
    }

    /// The wire encoding.
    var bytes: [UInt8] {
        let unicode = flags & NTLMFlag.unicode != 0
        func encode(_ text: String) -> [UInt8] {
            unicode ? text.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } : Array(text.utf8)
        }
        // Target info AV pairs are always UTF-16LE, whatever the negotiated charset.
        func utf16(_ text: String) -> [UInt8] { text.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }
        var info: [UInt8] = []
        func pair(_ id: AvId, _ value: [UInt8]) {
            info += le16(id.rawValue) + le16(UInt16(value.count)) + value
        }
        pair(.nbDomainName, utf16(netBIOSDomain))
        pair(.nbComputerName, utf16(netBIOSComputer))
        pair(.dnsDomainName, utf16(dnsDomain))
        pair(.dnsComputerName, utf16(dnsComputer))
        pair(.dnsTreeName, utf16(dnsDomain))
        pair(.timestamp, (0..<8).map { UInt8(truncatingIfNeeded: timestamp >> (8 * UInt64($0))) })
        pair(.eol, [])

        let target = encode(netBIOSDomain)
        let headerLength = 56
        var message = ntlmSignature + le32(2)
        message += le16(UInt16(target.count)) + le16(UInt16(target.count)) + le32(UInt32(headerLength))
        message += le32(flags)
        message += serverChallenge
        message += [UInt8](repeating: 0, count: 8)
        message += le16(UInt16(info.count)) + le16(UInt16(info.count)) + le32(UInt32(headerLength + target.count))
        // Version: Windows Server 2019 (10.0 build 17763), NTLM revision 15; zero unless negotiated.
        message += flags & NTLMFlag.version != 0 ? [10, 0, 0x63, 0x45, 0, 0, 0, 0x0F] : [UInt8](repeating: 0, count: 8)
        message += target + info
        return message
    }
}

/// Little-endian 16-bit encoding.
func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
/// Little-endian 32-bit encoding.
func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) } }
