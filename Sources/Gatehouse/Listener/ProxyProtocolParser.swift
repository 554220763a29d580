/// The PROXY protocol parser (HAProxy's specification, versions 1 and 2), as a pure function of the
/// bytes a connection has sent so far: the handler calls it again with more bytes while it answers
/// `needMore`, and nothing in it touches a channel, a clock or the heap beyond the few address
/// strings of a v1 line. It decides as early as the bytes allow (a TLS ClientHello is refused on
/// its first byte), so a client that is not a balancer costs one call.
///
/// `parse` is the entry point for fuzzing: any bytes, any length, never traps.
public enum ProxyProtocolParser {
    /// The 12 bytes that open a v2 header (`\r\n\r\n\0\r\nQUIT\n`).
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// What opens a v1 line.
    static let v1Signature: [UInt8] = Array("PROXY ".utf8)
    /// The longest v1 line, CRLF included (the specification's bound).
    public static let v1MaximumLength = 107
    /// The default cap on a whole v2 header (16 fixed bytes, addresses and TLVs). Balancers send
    /// a few hundred bytes at most; the length field alone would allow 65,551.
    public static let defaultV2MaximumLength = 4096

    /// Which signature the first bytes carry.
    public enum Signature: Sendable, Hashable {
        case v1, v2
        /// The bytes match neither: a direct client.
        case none
        /// Too few bytes to tell; they are a prefix of a signature.
        case undecided
    }

    /// The signature `bytes` start with, decided on as few bytes as possible.
    public static func signature(_ bytes: UnsafeRawBufferPointer) -> Signature {
        switch match(bytes, v1Signature) {
        case true?: return .v1
        case false?: return signatureV2(bytes)
        case nil: return .undecided  // a prefix of `PROXY ` (the v2 signature starts otherwise)
        }
    }

    private static func signatureV2(_ bytes: UnsafeRawBufferPointer) -> Signature {
        switch match(bytes, v2Signature) {
        case true?: return .v2
        case false?: return .none
        case nil: return .undecided
        }
    }

    /// true: `bytes` start with `signature`; false: they cannot; nil: they are a strict prefix of it.
    private static func match(_ bytes: UnsafeRawBufferPointer, _ signature: [UInt8]) -> Bool? {
        let count = min(bytes.count, signature.count)
        for index in 0..<count where bytes[index] != signature[index] { return false }
        return count == signature.count ? true : nil
    }

    /// Parses a header at the start of `bytes`.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, v2MaximumLength: Int = defaultV2MaximumLength
    ) -> ProxyParseResult {
        switch signature(bytes) {
        case .v1: return parseV1(bytes)
        case .v2: return parseV2(bytes, maximumLength: v2MaximumLength)
        case .none: return .invalid(.noSignature)
        case .undecided: return .needMore
        }
    }

    /// Parses a header at the start of `bytes` (tests and fuzzing).
    public static func parse(_ bytes: [UInt8], v2MaximumLength: Int = defaultV2MaximumLength) -> ProxyParseResult {
        bytes.withUnsafeBytes { parse($0, v2MaximumLength: v2MaximumLength) }
    }

    /// The signature of `bytes` (tests and fuzzing).
    public static func signature(_ bytes: [UInt8]) -> Signature {
        bytes.withUnsafeBytes { signature($0) }
    }
}
