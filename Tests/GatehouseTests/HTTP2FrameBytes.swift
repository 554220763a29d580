/// Raw HTTP/2 bytes for tests that feed `HTTP2ServerHandler` on an `EmbeddedChannel`.
enum HTTP2FrameBytes {
    /// One frame: the 9-byte header (RFC 9113 §4.1) and `payload`.
    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [
            UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags,
            UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF),
            UInt8(stream & 0xFF)
        ] + payload
    }

    /// The client preface, an empty SETTINGS and the acknowledgement of the server's.
    static let clientStart: [UInt8] =
        Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        + frame(type: 0x4, flags: 0, stream: 0, payload: [])
        + frame(type: 0x4, flags: 0x1, stream: 0, payload: [])
}
