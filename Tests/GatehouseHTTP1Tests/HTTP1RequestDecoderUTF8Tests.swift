import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// Bytes above 0x7F in a request: well-formed UTF-8 passes through unchanged; anything else is
/// refused (a `String` would have replaced it with U+FFFD, changing the request on its way through).
@Suite("HTTP1RequestDecoder UTF-8")
struct HTTP1RequestDecoderUTF8Tests {
    /// The error decoding `bytes` (one read, then EOF) raises, or nil.
    func decoderError(_ bytes: [UInt8]) -> HTTP1DecoderError? {
        do {
            _ = try decodeAll([bytes])
            return nil
        } catch let error as HTTP1DecoderError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    /// A request whose `X-Name` header value is `value`.
    func request(value: [UInt8]) -> [UInt8] {
        Array("GET / HTTP/1.1\r\nHost: a\r\nX-Name: ".utf8) + value + Array("\r\n\r\n".utf8)
    }

    /// A chunked request whose trailer `X-Trailer` has the value `value`.
    func requestWithTrailer(value: [UInt8]) -> [UInt8] {
        Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: ".utf8)
            + value + Array("\r\n\r\n".utf8)
    }

    static let malformed: [[UInt8]] = [
        [0xFF],  // never in UTF-8
        [0xFE],
        [0x80],  // a continuation byte without a lead
        [0xC0, 0x80],  // overlong NUL
        [0xC1, 0xBF],  // overlong
        [0xE0, 0x80, 0xAF],  // overlong '/'
        [0xED, 0xA0, 0x80],  // a UTF-16 surrogate
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],
        [0xE2, 0x82],  // truncated
        [0xF0, 0x9F, 0x98],  // truncated
        [0x63, 0x61, 0x66, 0xE9],  // Latin-1 "café"
        [0xE2, 0x28, 0xA1]  // a bad second byte
    ]

    /// Where in the value the bad bytes sit: alone, after 17 ASCII bytes (so the eight-byte scan
    /// reaches them), before 17 ASCII bytes, and after a HTAB (the byte-by-byte path).
    static func placements(_ bad: [UInt8]) -> [[UInt8]] {
        let ascii = Array("abcdefghijklmnopq".utf8)
        return [bad, ascii + bad, bad + ascii, Array("a\tb".utf8) + bad + ascii]
    }

    @Test("a header value that is not UTF-8 is refused with 400 (invalid_utf8)", arguments: malformed)
    func malformedHeaderValue(bad: [UInt8]) {
        for value in Self.placements(bad) {
            let error = decoderError(request(value: value))
            #expect(error?.reason == .invalidUTF8, "\(value): \(String(describing: error))")
            #expect(error?.status == .badRequest)
            #expect(error?.parserError == .invalidCharactersUsed)
        }
    }

    @Test("a trailer value that is not UTF-8 is refused like a header value", arguments: malformed)
    func malformedTrailerValue(bad: [UInt8]) {
        for value in Self.placements(bad) {
            let error = decoderError(requestWithTrailer(value: value))
            #expect(error?.reason == .invalidUTF8, "\(value): \(String(describing: error))")
        }
    }

    @Test("the byte 0xFF in a field name or the request target is refused too")
    func nameAndTarget() {
        let name = Array("GET / HTTP/1.1\r\nHost: a\r\nX-".utf8) + [0xFF] + Array(": v\r\n\r\n".utf8)
        #expect(decoderError(name)?.reason == .invalidFieldName)
        let target = Array("GET /a".utf8) + [0xFF] + Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        #expect(decoderError(target)?.reason == .invalidTarget)
        let method = Array("G".utf8) + [0xFF] + Array("T / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        #expect(decoderError(method)?.reason == .invalidMethod)
    }

    @Test(
        "well-formed UTF-8 (obs-text) in header and trailer values passes through unchanged",
        arguments: [
            "Jürgen Müller", "café", "\u{2028}", "日本語のメール", "😀 mailbox 😀", "a\tü\tb",
            "0123456789abcdef\u{10FFFF}", "\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}"
        ])
    func wellFormed(text: String) throws {
        let parts = try decodeAll([request(value: Array(text.utf8))])
        #expect(heads(parts).first?.headers.first(name: "x-name") == text)

        let trailerParts = try decodeAll([requestWithTrailer(value: Array(text.utf8))])
        let trailers = trailerParts.compactMap { part -> HTTPHeaders? in
            if case .end(let trailers) = part { return trailers } else { return nil }
        }
        #expect(trailers.first?.first(name: "x-trailer") == text)
    }

    @Test("a value split across reads at every position, inside a multi-byte sequence too, is accepted")
    func splitReads() throws {
        let bytes = request(value: Array("Grüße aus Köln 😀".utf8))
        for split in 1..<bytes.count {
            let parts = try decodeAll([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(heads(parts).first?.headers.first(name: "x-name") == "Grüße aus Köln 😀", "split at \(split)")
        }
    }

    @Test("isValidUTF8 agrees with the standard library on every 1- and 2-byte string and many longer ones")
    func validatorAgreesWithStandardLibrary() {
        func stdlibValid(_ bytes: [UInt8]) -> Bool {
            Array(String(decoding: bytes, as: UTF8.self).utf8) == bytes
        }
        func check(_ bytes: [UInt8]) {
            let ours = bytes.withUnsafeBufferPointer { HTTP1Bytes.isValidUTF8($0.baseAddress!, $0.count) }
            #expect(ours == stdlibValid(bytes), "\(bytes.map { String($0, radix: 16) })")
        }
        for first in UInt8.min...UInt8.max {
            check([first])
            for second in UInt8.min...UInt8.max { check([first, second]) }
        }
        // Every lead byte of a 3- or 4-byte sequence with every second byte, and continuation
        // bytes at and beyond their bounds.
        for lead: UInt8 in 0xE0...0xFF {
            for second in UInt8.min...UInt8.max {
                for tail: UInt8 in [0x41, 0x7F, 0x80, 0xBF, 0xC0] {
                    check([lead, second, tail])
                    check([lead, second, 0x80, tail])
                    check([lead, second, tail, 0x80])
                }
            }
        }
    }

    @Test("holdsNonASCII looks at every byte of the word")
    func nonASCIIWord() {
        for position in 0..<8 {
            for byte: UInt8 in [0x00, 0x41, 0x7F, 0x80, 0xFF] {
                var bytes = [UInt8](repeating: 0x61, count: 8)
                bytes[position] = byte
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                #expect(HTTP1Bytes.holdsNonASCII(word) == (byte >= 0x80), "byte \(byte) at \(position)")
            }
        }
    }
}
