import GatehouseTLS
import NIOCore
import Testing

/// SHA256Hasher against published test vectors (FIPS 180-2), whole and in pieces.
@Suite("SHA256Hasher")
struct SHA256HasherTests {
    @Test("empty input and \"abc\" match the FIPS 180-2 vectors")
    func knownVectors() {
        #expect(SHA256Hasher().finalize() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let hasher = SHA256Hasher()
        hasher.update(Array("abc".utf8))
        #expect(hasher.finalize() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("feeding pieces (ByteBuffer and raw) gives the digest of the whole; finalize is repeatable")
    func incremental() {
        let text = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        let hasher = SHA256Hasher()
        hasher.update(ByteBuffer(bytes: text[0..<10]))
        text[10..<33].withUnsafeBytes { hasher.update($0) }
        hasher.update(ByteBuffer(bytes: text[33...]))
        let expected = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        #expect(hasher.finalize() == expected)
        #expect(hasher.finalize() == expected)
    }
}
