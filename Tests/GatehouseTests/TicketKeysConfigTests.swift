import Foundation
import Testing

@testable import Gatehouse
@testable import GatehouseTLS

/// `tls.ticket_keys` and `ocsp:` in the configuration: read at load, errors at the key's line.
@Suite struct TicketKeysConfigTests {
    static let key = Data((0..<80).map { UInt8($0) }).base64EncodedString()

    static func config(ticketKeys: String, extraTLS: String = "") -> String {
        let entry = "        - { cert: ../certs/mail.pem, key: ../certs/mail.key }"
        precondition(ConfigFixture.minimal.contains(entry))
        return ConfigFixture.minimal.replacingOccurrences(of: entry, with: entry + "\n      ticket_keys: \(ticketKeys)\(extraTLS)")
    }

    @Test func aGoodFileIsLoadedIntoTheListener() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let path = fixture.path("certs/tickets.keys")
        try PEMFileWriter.write(Self.key + "\n", to: path, mode: 0o600, overwrite: false)
        let (configuration, warnings) = try fixture.load(Self.config(ticketKeys: "../certs/tickets.keys"))
        let tls = try #require(configuration.listeners.first?.tls)
        #expect(tls.ticketKeysFile == path)
        #expect(tls.ticketKeys?.current.name == Array(0..<16))
        #expect(warnings.isEmpty, "\(warnings)")
    }

    @Test func badFilesAreErrorsAtTheKeyWithAHint() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let path = fixture.path("certs/tickets.keys")
        try PEMFileWriter.write(Self.key + "\nAAAA\n", to: path, mode: 0o600, overwrite: false)
        let errors = try fixture.errors(Self.config(ticketKeys: "../certs/tickets.keys"))
        #expect(errors.count == 1)
        let error = try #require(errors.first)
        #expect(error.line == 7, "\(error)")
        #expect(error.message.contains("line 2: a key must be 80 bytes, this one is 3"), "\(error.message)")
        #expect(error.hint?.contains("gatehouse cert ticket-key rotate") == true)

        try PEMFileWriter.write("", to: path, mode: 0o600, overwrite: true)
        #expect(try fixture.errors(Self.config(ticketKeys: "../certs/tickets.keys")).first?.message.contains("holds no keys") == true)
        let missing = try fixture.errors(Self.config(ticketKeys: "../certs/nope.keys"))
        #expect(missing.first?.message.contains("does not exist") == true)
    }

    @Test func keysWithoutTicketsAndAWideOpenFileAreReported() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let path = fixture.path("certs/tickets.keys")
        try PEMFileWriter.write(Self.key + "\n", to: path, mode: 0o644, overwrite: false)
        let (_, warnings) = try fixture.load(Self.config(ticketKeys: "../certs/tickets.keys"))
        #expect(warnings.contains { $0.message.contains("chmod 600") })
        let errors = try fixture.errors(Self.config(ticketKeys: "../certs/tickets.keys", extraTLS: "\n      session_tickets: false"))
        #expect(errors.first?.message.contains("session_tickets is false") == true, "\(errors)")
    }

    @Test func ocspFileIsKeptOnTheCertificateEntry() throws {
        let fixture = try ConfigFixture(files: ["mail.pem", "mail.key", "mbx01.pem", "mail.ocsp"])
        defer { fixture.remove() }
        let yaml = ConfigFixture.minimal.replacingOccurrences(
            of: "key: ../certs/mail.key }", with: "key: ../certs/mail.key, ocsp: ../certs/mail.ocsp }")
        let (configuration, _) = try fixture.load(yaml)
        #expect(configuration.listeners.first?.tls?.certificates.first?.ocsp == fixture.path("certs/mail.ocsp"))
        let missing = try fixture.errors(yaml.replacingOccurrences(of: "mail.ocsp", with: "gone.ocsp"))
        #expect(missing.first?.message.contains("OCSP response file") == true, "\(missing)")
    }
}
