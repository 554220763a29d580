import Testing

@testable import GatehouseHTTP1

/// The byte classes against the RFC grammar spelled out.
@Suite("HTTP1Bytes")
struct HTTP1BytesTests {
    @Test("isToken is exactly RFC 9110 tchar")
    func token() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTP1Bytes.isToken(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }

    @Test("field values allow HTAB, SP, VCHAR and obs-text only; targets visible ASCII only")
    func valueAndTarget() {
        for byte in UInt8.min...UInt8.max {
            #expect(HTTP1Bytes.isFieldValueByte(byte) == (byte == 0x09 || (byte >= 0x20 && byte != 0x7F)), "byte \(byte)")
            #expect(HTTP1Bytes.isTargetByte(byte) == (byte >= 0x21 && byte <= 0x7E), "byte \(byte)")
        }
    }

    @Test("the eight-byte control check agrees with the byte-wise one, wherever the byte sits")
    func wordCheck() {
        for byte in UInt8.min...UInt8.max {
            for position in 0..<8 {
                for filler: UInt8 in [0x20, 0x41, 0x7E, 0x80, 0xFF] {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[position] = byte
                    let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                    let expected = byte < 0x20 || byte == 0x7F
                    #expect(HTTP1Bytes.mayHoldControl(word) == expected, "byte \(byte) at \(position) among \(filler)")
                }
            }
        }
    }

    @Test("case-insensitive name comparison")
    func names() {
        for name in ["content-length", "Content-Length", "CONTENT-LENGTH", "cOnTeNt-LeNgTh"] {
            let bytes = Array(name.utf8)
            #expect(HTTP1Bytes.tokenEqualsLowercase(bytes, bytes.count, "content-length"))
        }
        for name in ["content-lengt", "content_length", "content-lengths", "Content-Lenght"] {
            let bytes = Array(name.utf8)
            #expect(!HTTP1Bytes.tokenEqualsLowercase(bytes, bytes.count, "content-length"))
        }
    }
}
