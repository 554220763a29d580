// tls-bench-server: a minimal HTTPS responder behind OpenSSLHandler, for loadtest/tls-handshakes.sh.
// Not part of the proxy: it exists to measure the TLS handler alone against `openssl s_server`.
//
// Usage: tls-bench-server --cert CERT.pem --key KEY.pem [--port 8443] [--threads 1] [--alpn h2,http/1.1]
import Foundation
import GatehouseTLS
import NIOCore
import NIOPosix

/// Answers each request head ("...\r\n\r\n") with a 1 KiB body; closes after HTTP/1.0 or
/// `Connection: close` requests, keeps the connection otherwise.
final class BenchResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var pending: [UInt8] = []
    private static let body = String(repeating: "x", count: 1024)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += unwrapInboundIn(data).readableBytesView
        while let end = headEnd() {
            let head = String(decoding: pending[..<end], as: UTF8.self).lowercased()
            pending.removeFirst(end)
            let close = head.contains("http/1.0") || head.contains("connection: close")
            var response = context.channel.allocator.buffer(capacity: 1200)
            response.writeString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n")
            response.writeString(close ? "Connection: close\r\n\r\n" : "\r\n")
            response.writeString(Self.body)
            context.write(wrapOutboundOut(response), promise: nil)
            if close {
                context.flush()
                context.close(promise: nil)
                return
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    /// Index just past the first "\r\n\r\n", if any.
    private func headEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for index in 3..<pending.count where pending[index] == 10 && pending[index - 1] == 13
            && pending[index - 2] == 10 && pending[index - 3] == 13 {
            return index + 1
        }
        return nil
    }
}

/// Reads `--name value` options.
func option(_ name: String, _ fallback: String? = nil) -> String? {
    let arguments = CommandLine.arguments
    if let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count { return arguments[index + 1] }
    return fallback
}

guard let certPath = option("cert"), let keyPath = option("key") else {
    FileHandle.standardError.write(Data("usage: tls-bench-server --cert CERT.pem --key KEY.pem [--port 8443] [--threads 1] [--alpn h2,http/1.1]\n".utf8))
    exit(2)
}
let port = Int(option("port", "8443")!) ?? 8443
let threads = Int(option("threads", "1")!) ?? 1
let alpn = option("alpn", "http/1.1")!.split(separator: ",").map(String.init)

do {
    let (certified, warnings) = try CertifiedKey.load(certificatePath: certPath, keyPath: keyPath, strict: false)
    for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
    let store = try CertificateStore(certificates: [certified], defaultCertificate: nil, policy: .exchangeDefault,
                                     alpn: alpn, strictSNI: false)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    let channel = try ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: store))
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
