import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseHTTP1

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random and mutated input: no crash, only `HTTP1DecoderError`s, and never more body than input.
@Suite("HTTP1RequestDecoder robustness")
struct HTTP1RequestDecoderRobustnessTests {
    static let seeds = Array(HTTP1RequestDecoderTests.pipelined.utf8)
    static let alphabet: [UInt8] =
        Array("GET POST RPC_IN_DATA / HTTP/1.1\r\n:;,0123456789abcdefABCDEF Content-Length Transfer-Encoding chunked\t\0\u{7F}".utf8) + [
            0x80, 0xFF
        ]

    /// Decodes `bytes` split at random points; returns the body byte count, or throws.
    func decodeRandomly(_ bytes: [UInt8], using generator: inout SplitMix64) throws -> Int {
        let limits = HTTP1RequestDecoder.Limits(
            maxFieldLineBytes: 200, maxHeadBytes: 600, maxFieldCount: 8,
            maxChunkLineBytes: 32, maxTrailerBytes: 200)
        var chunks: [[UInt8]] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + Int.random(in: 1...64, using: &generator))
            chunks.append(Array(bytes[start..<end]))
            start = end
        }
        return try decodeAll(chunks, limits: limits).reduce(0) { total, part in
            if case .body(let buffer) = part { return total + buffer.readableBytes }
            return total
        }
    }

    @Test("2,000 mutated and random inputs: no crash, only decoder errors, body never larger than the input")
    func randomInput() throws {
        var generator = SplitMix64(state: 0x6761_7465_686F_7573)
        var accepted = 0
        var rejected = 0
        for round in 0..<2_000 {
            var bytes: [UInt8]
            if round % 4 == 0 {
                bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in
                    Self.alphabet.randomElement(using: &generator)!
                }
            } else {
                bytes = Self.seeds
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0..<4, using: &generator) {
                    case 0: bytes[index] = Self.alphabet.randomElement(using: &generator)!
                    case 1: bytes.remove(at: index)
                    case 2: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: index)
                    default: bytes[index] = UInt8.random(in: 0...255, using: &generator)
                    }
                    if bytes.isEmpty { break }
                }
            }
            do {
                let body = try decodeRandomly(bytes, using: &generator)
                #expect(body <= bytes.count)
                accepted += 1
            } catch is HTTP1DecoderError {
                rejected += 1
            } catch {
                Issue.record("round \(round): unexpected error \(error) for \(bytes)")
            }
        }
        // Both outcomes occur, so the loop really exercises the decoder.
        #expect(accepted > 50)
        #expect(rejected > 50)
    }
}
