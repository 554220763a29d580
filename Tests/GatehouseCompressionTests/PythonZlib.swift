import Foundation
import NIOCore

/// Runs Python's zlib (an implementation independent of the code under test's Swift side) on
/// data passed through temporary files, so 10 MiB bodies never fill a pipe and deadlock.
enum PythonZlib {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `script` with `sys.argv[1]` = a file holding `input` and `sys.argv[2]` = an output
    /// file path; returns what the script wrote to the output file.
    static func run(_ script: String, input: [UInt8]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gatehouse-zlib-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputURL = directory.appendingPathComponent("in")
        let outputURL = directory.appendingPathComponent("out")
        try Data(input).write(to: inputURL)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, inputURL.path, outputURL.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        // stderr is small (a traceback at most), so reading it after exit cannot deadlock in practice;
        // read first anyway so a chatty failure cannot block the child.
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "python3 exited \(process.terminationStatus): \(errorText)")
        }
        return [UInt8](try Data(contentsOf: outputURL))
    }

    /// `zlib.decompress(data, wbits)`: 31 for gzip, 15 (the default) for the zlib format.
    static func decompress(_ compressed: [UInt8], coding: ContentCodingForTests) throws -> [UInt8] {
        try run(
            """
            import sys, zlib
            data = open(sys.argv[1], 'rb').read()
            open(sys.argv[2], 'wb').write(zlib.decompress(data, \(coding.wbits)))
            """, input: compressed)
    }

    /// `zlib.compress` with the given wbits, so the Inflater is tested against another encoder.
    static func compress(_ plain: [UInt8], coding: ContentCodingForTests, level: Int = 6) throws -> [UInt8] {
        try run(
            """
            import sys, zlib
            data = open(sys.argv[1], 'rb').read()
            c = zlib.compressobj(\(level), zlib.DEFLATED, \(coding.wbits))
            open(sys.argv[2], 'wb').write(c.compress(data) + c.flush())
            """, input: plain)
    }

    /// Feeds length-prefixed compressed segments one at a time to a `zlib.decompressobj` and
    /// returns, per segment, exactly what the decompressor yielded after that segment, plus a
    /// final flag saying whether the stream reached its end (`eof`).
    static func decompressSegments(_ segments: [[UInt8]], coding: ContentCodingForTests) throws -> (pieces: [[UInt8]], eof: Bool) {
        var framed: [UInt8] = []
        for segment in segments {
            framed.append(contentsOf: bigEndian(segment.count))
            framed.append(contentsOf: segment)
        }
        let out = try run(
            """
            import sys, zlib, struct
            data = open(sys.argv[1], 'rb').read()
            d = zlib.decompressobj(\(coding.wbits))
            out = bytearray()
            i = 0
            while i < len(data):
                (n,) = struct.unpack('>I', data[i:i+4]); i += 4
                piece = d.decompress(data[i:i+n]); i += n
                out += struct.pack('>I', len(piece)) + piece
            out += b'\\x01' if d.eof else b'\\x00'
            open(sys.argv[2], 'wb').write(out)
            """, input: framed)
        var pieces: [[UInt8]] = []
        var index = 0
        while index < out.count - 1 {
            let n = out[index..<index + 4].reduce(0) { $0 << 8 | Int($1) }
            index += 4
            pieces.append(Array(out[index..<index + n]))
            index += n
        }
        return (pieces, out.last == 1)
    }

    private static func bigEndian(_ n: Int) -> [UInt8] {
        [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
    }
}

/// Python's `wbits` for each coding, written out here rather than taken from the module so the
/// test does not trust the code under test for the wire format.
enum ContentCodingForTests: CaseIterable, CustomStringConvertible {
    case gzip, deflate
    var wbits: Int { self == .gzip ? 31 : 15 }
    var description: String { self == .gzip ? "gzip" : "deflate" }
}
