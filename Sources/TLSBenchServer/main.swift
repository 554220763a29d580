// tls-bench-server: a minimal HTTPS responder behind OpenSSLHandler, for loadtest/tls-handshakes.sh.
// Not part of the proxy: it exists to measure the TLS handler alone against `openssl s_server`.
//
// Usage: tls-bench-server --cert CERT.pem --key KEY.pem [--port 8443] [--threads 1] [--alpn h2,http/1.1]
import Foundation
import GatehouseTLS
import NIOCore
import NIOPosix

/// Answers each request head ("...\r\n\r\n") with a 1 KiB body; closes after HTTP/1.0 or
/// `Connection: close` requests, keeps the connection otherwise. Kept lean (byte scans, prebuilt
/// responses) so the benchmark measures TLS, not this responder.
final class BenchResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var pending: ByteBuffer?
    private static let body = String(repeating: "x", count: 1024)
    private static let keepAlive = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" + body)
    private static let closing = ByteBuffer(
        string: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" + body)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending == nil { pending = incoming } else { pending!.writeBuffer(&incoming) }
        while let (length, close) = pending.flatMap(Self.scanHead) {
            pending!.moveReaderIndex(forwardBy: length)
            context.write(wrapOutboundOut(close ? Self.closing : Self.keepAlive), promise: nil)
            if close {
                context.flush()
                context.close(promise: nil)
                return
            }
        }
        if pending?.readableBytes == 0 { pending = nil }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    /// Length of the first complete head and whether the connection should close after it.
    private static func scanHead(_ buffer: ByteBuffer) -> (Int, Bool)? {
        buffer.withUnsafeReadableBytes { bytes -> (Int, Bool)? in
            guard bytes.count >= 4 else { return nil }
            var end = -1
            for index in 3..<bytes.count
            where bytes[index] == 10 && bytes[index - 1] == 13
                && bytes[index - 2] == 10 && bytes[index - 3] == 13
            {
                end = index + 1
                break
            }
            guard end > 0 else { return nil }
            let head = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
            let http10 = contains(head, "HTTP/1.0\r\n")
            let close = contains(head, "onnection: close") || contains(head, "onnection: Close")
            return (end, http10 || close)
        }
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
        let count = needle.utf8CodeUnitCount
        guard haystack.count >= count else { return false }
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: count)
        outer: for start in 0...(haystack.count - count) {
            for offset in 0..<count where haystack[start + offset] != pattern[offset] { continue outer }
            return true
        }
        return false
    }
}

/// Reads `--name value` options.
func option(_ name: String, _ fallback: String? = nil) -> String? {
    let arguments = CommandLine.arguments
    if let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count { return arguments[index + 1] }
    return fallback
}

guard let certPath = option("cert"), let keyPath = option("key") else {
    FileHandle.standardError.write(
        Data("usage: tls-bench-server --cert CERT.pem --key KEY.pem [--port 8443] [--threads 1] [--alpn h2,http/1.1]\n".utf8))
    exit(2)
}
let port = Int(option("port", "8443")!) ?? 8443
let threads = Int(option("threads", "1")!) ?? 1
let alpn = option("alpn", "http/1.1")!.split(separator: ",").map(String.init)
// --plain: no TLS at all (to separate NIO's own per-connection cost from TLS's in measurements).
let plain = CommandLine.arguments.contains("--plain")

do {
    let (certified, warnings) = try CertifiedKey.load(certificatePath: certPath, keyPath: keyPath, strict: false)
    for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
    let store = try CertificateStore(
        certificates: [certified], defaultCertificate: nil, policy: .exchangeDefault,
        alpn: alpn, strictSNI: false)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    let channel = try ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // accepted sockets inherit it
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if !plain { try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: store)) }
                try channel.pipeline.syncOperations.addHandler(BenchResponder())
            }
        }
        .bind(host: "127.0.0.1", port: port).wait()
    print("tls-bench-server listening on 127.0.0.1:\(channel.localAddress?.port ?? port) (\(threads) thread(s))")
    try channel.closeFuture.wait()
} catch {
    FileHandle.standardError.write(Data("tls-bench-server: \(error)\n".utf8))
    exit(1)
}
