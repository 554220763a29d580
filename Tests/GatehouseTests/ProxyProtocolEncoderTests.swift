import Testing

@testable import Gatehouse

/// The PROXY v2 header a pass-through listener sends to its backends, read back by the listener's
/// own parser.
@Suite struct ProxyProtocolEncoderTests {
    private func roundTrip(_ source: ProxyHeader.Endpoint?, _ destination: ProxyHeader.Endpoint?) -> ProxyParseResult {
        let bytes = ProxyProtocolEncoder.v2(source: source, destination: destination)
        // The parser must stop at the header's end and leave what follows alone.
        return ProxyProtocolParser.parse(bytes + [0x16, 0x03, 0x01])
    }

    @Test func ipv4RoundTrip() {
        let source = ProxyHeader.Endpoint(address: IPAddress("192.0.2.7")!, port: 56324)
        let destination = ProxyHeader.Endpoint(address: IPAddress("198.51.100.1")!, port: 443)
        let bytes = ProxyProtocolEncoder.v2(source: source, destination: destination)
        #expect(bytes.count == 16 + 12)
        #expect(
            roundTrip(source, destination)
                == .header(ProxyHeader(version: .v2, source: source, destination: destination), consumed: 28))
    }

    @Test func ipv6RoundTrip() {
        let source = ProxyHeader.Endpoint(address: IPAddress("2001:db8::42")!, port: 65535)
        let destination = ProxyHeader.Endpoint(address: IPAddress("2001:db8::1")!, port: 1)
        #expect(
            roundTrip(source, destination)
                == .header(ProxyHeader(version: .v2, source: source, destination: destination), consumed: 52))
    }

    @Test func mixedFamiliesAreWrittenAsIPv6() {
        let source = ProxyHeader.Endpoint(address: IPAddress("192.0.2.7")!, port: 1000)
        let destination = ProxyHeader.Endpoint(address: IPAddress("2001:db8::1")!, port: 443)
        guard case .header(let header, let consumed) = roundTrip(source, destination) else {
            Issue.record("not parsed")
            return
        }
        #expect(consumed == 52)
        #expect(header.source?.address.unmapped == IPAddress("192.0.2.7")!)
        #expect(header.source?.port == 1000)
        #expect(header.destination == destination)
    }

    @Test func unknownAddressesGiveALocalHeader() {
        #expect(roundTrip(nil, nil) == .header(ProxyHeader(version: .v2), consumed: 16))
    }
}
