// tls-bench-server: a minimal HTTPS responder behind OpenSSLHandler, for loadtest/tls-handshakes.sh.
// Not part of the proxy: it exists to measure the TLS handler alone against `openssl s_server`.
//
// Usage: tls-bench-server --cert CERT.pem --key KEY.pem [--port 8443] [--threads 1] [--alpn h2,http/1.1]
//        [--plain] [--relay HOST:PORT --relay-trust CERT.pem [--relay-name NAME]]
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

/// One side of `--relay`: what its channel reads goes to the other side's channel unparsed, and a
/// read batch is flushed as one. Both sides live on one event loop (the backend connection is made
/// on the client's loop), which is what makes the unchecked `Sendable` sound. Writes that arrive
/// before the backend pipeline exists wait in `early`. A measuring tool, not a proxy: no
/// backpressure (the benchmark sends small requests one at a time) and no HTTP at all.
final class RelaySide: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var partner: RelaySide?
    private var context: ChannelHandlerContext?
    private var early: [ByteBuffer] = []
    private var closed = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        for buffer in early { context.write(wrapOutboundOut(buffer), promise: nil) }
        if !early.isEmpty { context.flush() }
        early = []
        if closed { context.close(promise: nil) }
    }

    /// Also ends the link (the two sides refer to each other): the relay leaks nothing per connection.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.send(unwrapInboundIn(data)) }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.context?.flush() }

    func channelInactive(context: ChannelHandlerContext) { partner?.close() }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    private func send(_ buffer: ByteBuffer) {
        if let context { context.write(wrapOutboundOut(buffer), promise: nil) } else { early.append(buffer) }
    }

    private func close() {
        closed = true
        context?.close(promise: nil)
    }
}

/// `--relay HOST:PORT`: each client connection gets a TLS connection of its own to HOST:PORT
/// (`--relay-name` for SNI and verification, `--relay-trust` the PEM to trust), and the bytes pass
/// through both TLS layers unchanged. This is what any proxy on SwiftNIO and `OpenSSLHandler` pays
/// at least per request (loadtest/callgrind.sh floor), HTTP parsing, routing and pooling excluded.
struct RelayTarget: Sendable {
    let host: String
    let port: Int
    let context: TLSClientContext
    let serverName: String

    func connect(from client: Channel, side: RelaySide) {
        let backend = RelaySide()
        backend.partner = side
        side.partner = backend
        let target = self
        ClientBootstrap(group: client.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = OpenSSLHandler(client: target.context, serverName: target.serverName)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHandler(backend)
                }
            }
            .connect(host: host, port: port)
            .whenFailure { error in
                FileHandle.standardError.write(Data("tls-bench-server: relay connect failed: \(error)\n".utf8))
                client.close(promise: nil)
            }
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
let relay: RelayTarget? = relayTarget()

/// The `--relay` options, checked; nil without `--relay`.
func relayTarget() -> RelayTarget? {
    guard let target = option("relay") else { return nil }
    guard let colon = target.lastIndex(of: ":"), let relayPort = Int(target[target.index(after: colon)...]),
        let trustPath = option("relay-trust")
    else {
        FileHandle.standardError.write(Data("usage: --relay HOST:PORT --relay-trust CERT.pem [--relay-name NAME]\n".utf8))
        exit(2)
    }
    let host = String(target[..<colon])
    do {
        let trust = BackendTrust(trustedCertificates: try X509Certificate.chain(pemFile: trustPath))
        return RelayTarget(
            host: host, port: relayPort, context: try TLSClientContext(trust: trust),
            serverName: option("relay-name", host)!)
    } catch {
        FileHandle.standardError.write(Data("tls-bench-server: \(error)\n".utf8))
        exit(1)
    }
}

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
                if let relay {
                    let side = RelaySide()
                    try channel.pipeline.syncOperations.addHandler(side)
                    relay.connect(from: channel, side: side)
                } else {
                    try channel.pipeline.syncOperations.addHandler(BenchResponder())
                }
            }
        }
        .bind(host: "127.0.0.1", port: port).wait()
    print("tls-bench-server listening on 127.0.0.1:\(channel.localAddress?.port ?? port) (\(threads) thread(s))")
    try channel.closeFuture.wait()
} catch {
    FileHandle.standardError.write(Data("tls-bench-server: \(error)\n".utf8))
    exit(1)
}
