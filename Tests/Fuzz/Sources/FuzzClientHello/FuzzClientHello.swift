import NIOCore
import NIOEmbedded

@testable import GatehouseTLS

/// Fuzzes what a server does with a client's first TLS flight: OpenSSL's record and ClientHello
/// parsing, Gatehouse's own extension readers (server_name, signature_algorithms,
/// supported_versions) and the SNI certificate selection, on a real `OpenSSLHandler`.
///
/// Input: the bytes a client sends first (seeds are ClientHellos captured from `openssl s_client`).
/// An odd-length input meets a strict-SNI listener, an even-length one the default listener.
///
/// Invariants: never a crash or an ASan report; a server name taken from the ClientHello is
/// non-empty LDH ASCII; and the certificate chosen for the input read as a host name agrees with
/// `HostNameMatching.matches(pattern:host:)` (the matcher the backend check uses): a certificate
/// with a name covering the host when one exists (an exact name before a wildcard), else the
/// default (none on a strict-SNI listener).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientHello(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let store = size % 2 == 1 ? Fixture.strict : Fixture.lenient

    // The extension readers alone, on the input as an extension body.
    if let name = ClientHelloFacts.parseServerName(input) { checkLDH(name) }
    _ = ClientHelloFacts.hasECDSASigalg(input)
    _ = ClientHelloFacts.hasTLS13(input)

    // The input as the first flight of a handshake.
    let channel = EmbeddedChannel()
    let handler = OpenSSLHandler(server: store)
    try! channel.pipeline.syncOperations.addHandler(handler)
    _ = try? channel.connect(to: Fixture.peer).wait()
    _ = try? channel.writeInbound(channel.allocator.buffer(bytes: input))
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    if let name = handler.connection?.receivedServerName { checkLDH(name) }
    _ = try? channel.finish(acceptAlreadyClosed: true)

    // The input as a host name, through the selection rule.
    let host = String(decoding: input.prefix(300), as: UTF8.self)
    for offersECDSA in [false, true] {
        checkSelection(store, host: host, offersECDSA: offersECDSA)
    }
    return 0
}

/// Traps unless the selection for `host` is what the name matcher says.
func checkSelection(_ store: CertificateStore, host: String, offersECDSA: Bool) {
    let chosen = store.selectIndex(serverName: host, clientOffersECDSA: offersECDSA)
    let names = store.certificates.map { $0.leaf.matchableNames }
    let exact = names.indices.filter { index in
        names[index].contains { !$0.hasPrefix("*") && HostNameMatching.matches(pattern: $0, host: host) }
    }
    let covering = names.indices.filter { index in names[index].contains { HostNameMatching.matches(pattern: $0, host: host) } }
    if !exact.isEmpty {
        precondition(chosen.map(exact.contains) == true, "\(host): chose \(String(describing: chosen)), exact names in \(exact)")
    } else if !covering.isEmpty {
        precondition(chosen.map(covering.contains) == true, "\(host): chose \(String(describing: chosen)), covered by \(covering)")
    } else if store.strictSNI {
        precondition(chosen == nil, "\(host): strict SNI chose \(chosen!) though no certificate covers it")
    } else {
        precondition(
            chosen.map(store.defaultCandidates.contains) == true,
            "\(host): chose \(String(describing: chosen)) instead of the default")
    }
}

/// Traps unless `name` is a non-empty letters-digits-hyphen-dot ASCII name.
func checkLDH(_ name: String) {
    precondition(!name.isEmpty, "an empty server name")
    for byte in name.utf8 {
        let ok =
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: ".")
        precondition(ok, "a server name with byte \(byte): \(name)")
    }
}

/// Two listeners over the same certificates: ECDSA and RSA for mail.contoso.com (the default),
/// ECDSA for *.fabrikam.com and for owa.example.org.
enum Fixture {
    static let peer = try! SocketAddress(ipAddress: "127.0.0.1", port: 50_000)
    static let certificates: [CertifiedKey] = [
        certified(["mail.contoso.com", "autodiscover.contoso.com"], .p256),
        certified(["mail.contoso.com", "autodiscover.contoso.com"], .rsa2048),
        certified(["*.fabrikam.com"], .p256),
        certified(["owa.example.org"], .p256)
    ]
    static let lenient = try! CertificateStore(certificates: certificates)
    static let strict = try! CertificateStore(certificates: certificates, strictSNI: true)

    static func certified(_ names: [String], _ algorithm: KeyAlgorithm) -> CertifiedKey {
        let key = try! PrivateKey.generate(algorithm)
        let spec = CertificateSpec(subject: DistinguishedName(commonName: names[0]), dnsNames: names, validityDays: 30)
        return try! CertifiedKey(chain: [try! CertificateFactory.selfSigned(spec, key: key)], key: key)
    }
}
