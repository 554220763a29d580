import GatehouseCompression
import NIOCore

/// Deterministic test bodies.
enum TestData {
    /// Pseudo-random bytes (xorshift64), which deflate cannot shrink: exercises stored blocks and
    /// output larger than input.
    static func randomish(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
        var state = seed
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBufferPointer { buffer in
            var i = 0
            while i < count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                var word = state
                var k = 0
                while k < 8 && i < count {
                    buffer[i] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    i += 1
                    k += 1
                }
            }
        }
        return bytes
    }

    /// XML-like text with varying numbers, typical of an EWS response: highly compressible but
    /// not a single repeated string.
    static func text(count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 200)
        var n = 0
        while bytes.count < count {
            bytes.append(
                contentsOf:
                    "<t:Message><t:ItemId Id=\"AAMk\(n &* 2_654_435_761 % 1_000_003)\" ChangeKey=\"CQAA\(n)\"/><t:Subject>Status report \(n % 97)</t:Subject></t:Message>\n"
                    .utf8)
            n += 1
        }
        return Array(bytes.prefix(count))
    }

    /// Splits `bytes` into chunks of the given sizes, cycling through them.
    static func chunks(_ bytes: [UInt8], sizes: [Int]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var start = 0
        var k = 0
        while start < bytes.count {
            let end = min(bytes.count, start + sizes[k % sizes.count])
            result.append(Array(bytes[start..<end]))
            start = end
            k += 1
        }
        return result
    }
}

extension ContentCodingForTests {
    /// The module's coding for this test coding.
    var coding: ContentCoding { self == .gzip ? .gzip : .deflate }
}

extension ByteBuffer {
    /// All readable bytes as an array.
    var bytes: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}
