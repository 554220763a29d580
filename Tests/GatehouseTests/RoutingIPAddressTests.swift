import NIOCore
import Testing

@testable import Gatehouse

/// IPAddress text parsing and formatting, and IPNetwork CIDR parsing and membership.
@Suite struct RoutingIPAddressTests {
    /// Text -> canonical text (RFC 5952 for IPv6).
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"), ("::", "::"), ("2001:DB8::1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("fe80::", "fe80::"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"), ("1::2:0:0:0:3", "1:0:0:2::3")
    ])
    func parsesAndFormats(text: String, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        #expect(IPAddress(canonical) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", ":::", "1:::2", "1::2::3",
        "1:2:3:4:5:6:7:8:9", "12345::", "::g", "1:", ":1", "1.2.3.4::", "fe80::1%eth0", "[::1]"
    ])
    func refusesNonAddresses(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func networkMembership() throws {
        let v4 = try IPNetwork("10.20.0.0/16")
        #expect(v4.contains(IPAddress("10.20.255.1")!))
        #expect(!v4.contains(IPAddress("10.21.0.1")!))
        // An IPv4 client accepted on a dual-stack socket arrives IPv4-mapped.
        #expect(v4.contains(IPAddress("::ffff:10.20.1.2")!))
        #expect(!v4.contains(IPAddress("2001:db8::1")!))
        let v6 = try IPNetwork("2001:db8:abcd::/48")
        #expect(v6.contains(IPAddress("2001:db8:abcd:12::1")!))
        #expect(!v6.contains(IPAddress("2001:db8:abce::1")!))
        #expect(!v6.contains(IPAddress("10.20.1.2")!))
        #expect(try IPNetwork("0.0.0.0/0").contains(IPAddress("203.0.113.9")!))
        #expect(try IPNetwork("::/0").contains(IPAddress("::1")!))
        let host = try IPNetwork("192.0.2.7")
        #expect(host.prefixLength == 32 && host.contains(IPAddress("192.0.2.7")!) && !host.contains(IPAddress("192.0.2.8")!))
        #expect(try IPNetwork("2001:db8::1:0:0:1/128").contains(IPAddress("2001:db8::1:0:0:1")!))
        #expect(try IPNetwork("2001:db8::/65").description == "2001:db8::/65")
    }

    @Test(arguments: ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "2001:db8::1/64", "::/129", "x/8", "10.0.0.0/ 8"])
    func refusesBadNetworks(text: String) {
        #expect(throws: IPNetwork.ParseError.self) { try IPNetwork(text) }
    }

    @Test func readsNIOSocketAddresses() throws {
        let v4 = try SocketAddress(ipAddress: "192.0.2.1", port: 443)
        #expect(IPAddress(v4) == IPAddress("192.0.2.1"))
        let v6 = try SocketAddress(ipAddress: "2001:db8::1:2", port: 443)
        #expect(IPAddress(v6) == IPAddress("2001:db8::1:2"))
        let mapped = try SocketAddress(ipAddress: "::ffff:10.1.2.3", port: 443)
        #expect(try IPNetwork("10.0.0.0/8").contains(#require(IPAddress(mapped))))
    }
}
