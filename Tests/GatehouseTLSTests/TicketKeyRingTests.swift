import COpenSSL
import Foundation
import Testing

@testable import GatehouseTLS

/// The shared session-ticket key file (`tls.ticket_keys`): its format, rotation, and the key
/// choice the ticket callback makes, exercised on real OpenSSL cipher and MAC contexts.
@Suite struct TicketKeyRingTests {
    /// A key whose bytes are `seed`, `seed + 1`, ... (mod 256), so its parts are recognisable.
    static func key(_ seed: UInt8) -> TicketKey {
        TicketKey(bytes: (0..<80).map { UInt8(truncatingIfNeeded: Int(seed) + $0) })!
    }

    static func line(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    @Test func parsesBase64LinesInNginxLayoutFirstKeyEncrypts() throws {
        let text = "# shared by mail1 and mail2\n\n" + Self.line(Self.key(1).bytes) + "\r\n  " + Self.line(Self.key(100).bytes) + "\n"
        let ring = try TicketKeyRing.parse(text)
        #expect(ring.keys.count == 2)
        #expect(ring.current == Self.key(1))
        // name(16) | HMAC(32) | AES(32), as nginx reads an 80-byte ssl_session_ticket_key file.
        #expect(ring.current.name == Array(1...16))
        #expect(ring.current.hmacKey == Array(17...48))
        #expect(ring.current.aesKey == Array(49...80))
        #expect(try TicketKeyRing.parse(ring.fileText) == ring)
    }

    @Test func badFilesAreRefusedWithTheLine() throws {
        func failure(_ text: String) -> TicketKeyRing.ParseError? {
            do {
                _ = try TicketKeyRing.parse(text)
                return nil
            } catch let error as TicketKeyRing.ParseError {
                return error
            } catch {
                return nil
            }
        }
        let good = Self.line(Self.key(1).bytes)
        #expect(failure(good + "\nnot base64!\n") == .init(line: 2, message: "not valid base64"))
        let short = failure("# c\n" + Self.line(Array(repeating: 7, count: 48)))
        #expect(short?.line == 2)
        #expect(short?.message.contains("must be 80 bytes, this one is 48 (48-byte AES-128 keys are not supported)") == true)
        #expect(failure(Self.line(Array(repeating: 7, count: 79)))?.message.contains("this one is 79") == true)
        #expect(failure("") == .init(line: nil, message: "the file holds no keys"))
        #expect(failure("# only a comment\n\n") == .init(line: nil, message: "the file holds no keys"))
        #expect(failure(good + "\n" + good + "\n")?.line == 2)
    }

    @Test func rotationPrependsAndKeepsTheNewest() throws {
        let ring = TicketKeyRing(keys: [Self.key(1), Self.key(2), Self.key(3)])!
        let rotated = ring.rotated(adding: Self.key(9), keep: 3)
        #expect(rotated.keys == [Self.key(9), Self.key(1), Self.key(2)])
        #expect(ring.rotated(adding: Self.key(9), keep: 5).keys.count == 4)
        #expect(ring.rotated(adding: Self.key(9), keep: 1).keys == [Self.key(9)])
        let fresh = try TicketKey.random()
        #expect(fresh != (try TicketKey.random()))
        #expect(fresh.bytes.count == 80)
    }

    @Test func decisionRenewsTicketsOfOlderKeys() {
        let ring = TicketKeyRing(keys: [Self.key(1), Self.key(2)])!
        #expect(ring.decision(forName: Self.key(1).name) == .current(Self.key(1)))
        #expect(ring.decision(forName: Self.key(2).name) == .renew(Self.key(2)))
        #expect(ring.decision(forName: Self.key(3).name) == .unknown)
    }

    @Test func loadWarnsAboutAFileOthersCanRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gh-tk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keys").path
        try PEMFileWriter.write(Self.line(Self.key(1).bytes) + "\n", to: path, mode: 0o600, overwrite: false)
        #expect(try TicketKeyRing.load(path: path).warning == nil)
        chmod(path, 0o644)
        #expect(try TicketKeyRing.load(path: path).warning?.contains("chmod 600") == true)
        #expect(throws: TicketKeyRing.ParseError.self) { try TicketKeyRing.load(path: path + ".missing") }
    }

    /// Seals with one store's callback and opens with another's, as two instances would.
    @Test func ticketsSealedByOneStoreOpenInAnotherWithTheSameKeys() throws {
        let pki = try TestPKI()
        let certified = try pki.certified(try pki.selfSigned(cn: "mail.contoso.lab", dns: ["mail.contoso.lab"]))
        let shared = TicketKeyRing(keys: [Self.key(1), Self.key(2)])!
        let instanceA = try CertificateStore(certificates: [certified], ticketKeys: shared)
        let instanceB = try CertificateStore(certificates: [certified], ticketKeys: shared)
        let rotatedB = try CertificateStore(certificates: [certified], ticketKeys: shared.rotated(adding: Self.key(50), keep: 3))
        let stranger = try CertificateStore(certificates: [certified], ticketKeys: TicketKeyRing(keys: [Self.key(200)])!)

        let plaintext = Array("session state".utf8)
        let (name, iv, sealed, tag) = try seal(plaintext, by: instanceA)
        #expect(name == Self.key(1).name)
        #expect(try open(sealed, name: name, iv: iv, tag: tag, by: instanceB) == (1, plaintext))
        #expect(try open(sealed, name: name, iv: iv, tag: tag, by: rotatedB) == (2, plaintext))
        #expect(try open(sealed, name: name, iv: iv, tag: tag, by: stranger).result == 0)
    }

    /// Without a key file: a fresh key encrypts every period, the newest `keep` decrypt, and a
    /// clock that jumps far ahead rotates once (time passed in).
    @Test func automaticKeysRotateByTimeAndKeepTheNewest() throws {
        let keys = AutomaticTicketKeys(period: 100, keep: 3)
        let first = try keys.ring(now: 1_000)
        #expect(first.keys.count == 1)
        #expect(try keys.ring(now: 1_099) == first, "no rotation within a period")
        let second = try keys.ring(now: 1_100)
        #expect(second.keys.count == 2 && second.current != first.current && second.keys[1] == first.current)
        #expect(second.decision(forName: first.current.name) == .renew(first.current), "an old key's ticket is renewed")
        _ = try keys.ring(now: 1_200)
        let fourth = try keys.ring(now: 1_300)
        #expect(fourth.keys.count == 3, "only the newest three decrypt")
        #expect(fourth.decision(forName: first.current.name) == .unknown, "the first key is gone after three rotations")
        let jumped = try keys.ring(now: 1_000_000)
        #expect(jumped.keys.count == 3 && jumped.keys[1] == fourth.current, "a jump of many periods rotates once")
        #expect(try keys.ring(now: 1_000_099) == jumped)
    }

    /// Without a key file every store of the process (a reload builds new ones) shares the
    /// process's keys: a ticket sealed before a reload opens after it.
    @Test func withoutAKeyFileStoresOfOneProcessShareTheirKeys() throws {
        let pki = try TestPKI()
        let certified = try pki.certified(try pki.selfSigned(cn: "mail.contoso.lab", dns: ["mail.contoso.lab"]))
        let before = try CertificateStore(certificates: [certified])
        let after = try CertificateStore(certificates: [certified])
        let plaintext = Array("session state".utf8)
        let (name, iv, sealed, tag) = try seal(plaintext, by: before)
        let current = try AutomaticTicketKeys.shared.ring(now: Date().timeIntervalSince1970).current
        #expect(name == current.name)
        #expect(try open(sealed, name: name, iv: iv, tag: tag, by: after) == (1, plaintext))
    }

    /// Runs the encrypt half of the callback, then encrypts and MACs `plaintext` as OpenSSL would.
    private func seal(_ plaintext: [UInt8], by store: CertificateStore) throws -> ([UInt8], [UInt8], [UInt8], [UInt8]) {
        let (cipher, mac) = try contexts()
        defer {
            EVP_CIPHER_CTX_free(cipher)
            EVP_MAC_CTX_free(mac)
        }
        var name = [UInt8](repeating: 0, count: 16)
        var iv = [UInt8](repeating: 0, count: Int(EVP_MAX_IV_LENGTH))
        #expect(store.sealOrOpenTicket(name: &name, iv: &iv, cipher: cipher, mac: mac, encrypt: true) == 1)
        var out = [UInt8](repeating: 0, count: plaintext.count + 32)
        var length: Int32 = 0
        var final: Int32 = 0
        #expect(EVP_EncryptUpdate(cipher, &out, &length, plaintext, Int32(plaintext.count)) == 1)
        #expect(out.withUnsafeMutableBufferPointer { EVP_EncryptFinal_ex(cipher, $0.baseAddress! + Int(length), &final) } == 1)
        let sealed = Array(out.prefix(Int(length + final)))
        return (name, iv, sealed, try tag(sealed, mac))
    }

    /// Runs the decrypt half of the callback; on success checks the MAC and decrypts.
    private func open(
        _ sealed: [UInt8], name: [UInt8], iv: [UInt8], tag expected: [UInt8], by store: CertificateStore
    ) throws -> (result: Int32, plaintext: [UInt8]) {
        let (cipher, mac) = try contexts()
        defer {
            EVP_CIPHER_CTX_free(cipher)
            EVP_MAC_CTX_free(mac)
        }
        var name = name
        var iv = iv
        let result = store.sealOrOpenTicket(name: &name, iv: &iv, cipher: cipher, mac: mac, encrypt: false)
        guard result > 0 else { return (result, []) }
        #expect(try tag(sealed, mac) == expected)
        var out = [UInt8](repeating: 0, count: sealed.count + 32)
        var length: Int32 = 0
        var final: Int32 = 0
        #expect(EVP_DecryptUpdate(cipher, &out, &length, sealed, Int32(sealed.count)) == 1)
        #expect(out.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(cipher, $0.baseAddress! + Int(length), &final) } == 1)
        return (result, Array(out.prefix(Int(length + final))))
    }

    private func contexts() throws -> (OpaquePointer, OpaquePointer) {
        let algorithm = try #require(EVP_MAC_fetch(nil, "HMAC", nil))
        defer { EVP_MAC_free(algorithm) }
        return (try #require(EVP_CIPHER_CTX_new()), try #require(EVP_MAC_CTX_new(algorithm)))
    }

    private func tag(_ data: [UInt8], _ mac: OpaquePointer) throws -> [UInt8] {
        #expect(EVP_MAC_init(mac, nil, 0, nil) == 1)
        #expect(EVP_MAC_update(mac, data, data.count) == 1)
        var out = [UInt8](repeating: 0, count: 64)
        var length = 0
        #expect(EVP_MAC_final(mac, &out, &length, out.count) == 1)
        return Array(out.prefix(length))
    }
}
