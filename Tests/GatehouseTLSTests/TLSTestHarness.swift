import Foundation
import NIOCore
import NIOPosix
import NIOTLS

@testable import GatehouseTLS

/// What one side of a test connection saw. Written on the event loop, read by the test.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _bytes: [UInt8] = []
    private var _errors: [Error] = []
    private var _info: TLSConnectionInfo?
    private var _handshakeDone = false
    private var _negotiated: String?
    private var _inactive = false
    private var _events: [String] = []

    func withLock<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    var bytes: [UInt8] { withLock { _bytes } }
    var byteCount: Int { withLock { _bytes.count } }
    var errors: [Error] { withLock { _errors } }
    var tlsErrors: [TLSError] { errors.compactMap { $0 as? TLSError } }
    var info: TLSConnectionInfo? { withLock { _info } }
    var handshakeDone: Bool { withLock { _handshakeDone } }
    var negotiated: String? { withLock { _negotiated } }
    var inactive: Bool { withLock { _inactive } }
    var events: [String] { withLock { _events } }

    func append(_ data: ByteBuffer) { withLock { _bytes += data.readableBytesView } }
    func record(error: Error) { withLock { _errors.append(error) } }
    func record(event: String) { withLock { _events.append(event) } }
    func handshake(negotiated: String?, info: TLSConnectionInfo?) {
        withLock {
            _handshakeDone = true
            _negotiated = negotiated
            _info = info
            _events.append("handshake")
        }
    }
    func markInactive() { withLock { _inactive = true } }
}

/// Records events; optionally echoes what it reads (flushing on readComplete).
final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let log: EventLog
    let echo: Bool
    init(log: EventLog, echo: Bool = false) {
        self.log = log
        self.echo = echo
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            let info = try? context.pipeline.syncOperations.handler(type: OpenSSLHandler.self).connectionInfo
            log.handshake(negotiated: negotiated, info: info)
        } else if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed {
            log.record(event: "inputClosed")
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if !log.handshakeDone { log.record(event: "data-before-handshake") }
        log.append(buffer)
        if echo { context.write(wrapOutboundOut(buffer), promise: nil) } else { context.fireChannelRead(data) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if echo { context.flush() }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        log.record(error: error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        log.markInactive()
        context.fireChannelInactive()
    }
}

/// Answers every request head with a small 200 response and closes (enough for curl).
final class TinyHTTPResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytesView
        guard received.count >= 4, received.suffix(4) == Array("\r\n\r\n".utf8) else { return }
        var response = context.channel.allocator.buffer(capacity: 128)
        response.writeString("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello, tls\n")
        context.writeAndFlush(wrapOutboundOut(response)).whenComplete { _ in }
        context.close(promise: nil)
    }
}

/// Sits before the TLS handler (network side) so a test can close TCP without close_notify.
final class RawCloser: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
}

/// A loopback TLS server (OpenSSLHandler + RecordingHandler) and clients for it.
final class TLSTestBed: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let lock = NSLock()
    private var _serverLogs: [EventLog] = []
    private var _accepted: [Channel] = []
    var acceptedChannels: [Channel] {
        lock.lock()
        defer { lock.unlock() }
        return _accepted
    }
    private(set) var serverChannel: Channel?
    var serverLogs: [EventLog] {
        lock.lock()
        defer { lock.unlock() }
        return _serverLogs
    }

    var port: Int { serverChannel?.localAddress?.port ?? 0 }

    /// Starts a server on 127.0.0.1:0.
    func startServer(store: CertificateStore, echo: Bool = true, halfClosure: Bool = false, http: Bool = false) async throws {
        serverChannel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: halfClosure)
            .childChannelInitializer { [self] channel in
                let log = EventLog()
                self.lock.lock()
                self._serverLogs.append(log)
                self._accepted.append(channel)
                self.lock.unlock()
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawCloser())
                    let handler = OpenSSLHandler(server: store)
                    handler.allowHalfClosure = halfClosure
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: log, echo: echo && !http))
                    if http { try channel.pipeline.syncOperations.addHandler(TinyHTTPResponder()) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Connects a TLS client; returns its channel and log.
    func connect(context: TLSClientContext, serverName: String, port: Int? = nil) async throws -> (Channel, EventLog) {
        let log = EventLog()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawCloser())
                    try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(client: context, serverName: serverName))
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: log))
                }
            }
            .connect(host: "127.0.0.1", port: port ?? self.port).get()
        return (channel, log)
    }

    /// Connects a plain TCP client (no TLS) that records raw bytes.
    func connectRaw() async throws -> (Channel, EventLog) {
        let log = EventLog()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(log: log))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return (channel, log)
    }

    func shutdown() async {
        try? await serverChannel?.close().get()
        try? await group.shutdownGracefully()
    }
}

/// Closes TCP under the TLS handler (no close_notify).
func closeRaw(_ channel: Channel) async throws {
    try await channel.eventLoop.submit {
        try channel.pipeline.syncOperations.context(handlerType: RawCloser.self).close(promise: nil)
    }.get()
}

/// Waits until `condition` holds, polling, for at most `seconds`. Returns the final value.
@discardableResult
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}

/// Writes bytes and flushes.
func send(_ channel: Channel, _ bytes: [UInt8]) async throws {
    var buffer = channel.allocator.buffer(capacity: bytes.count)
    buffer.writeBytes(bytes)
    try await channel.writeAndFlush(buffer).get()
}

/// A store + trusting client context built from fresh certificates, for handshake tests.
struct Fixture {
    let pki: TestPKI
    let serverFiles: TestPKI.Files
    let certified: CertifiedKey
    let store: CertificateStore
    let trustedLeaf: X509Certificate

    init(
        name: String = "mail.contoso.com", key: TestPKI.KeyKind = .ecdsa, policy: TLSPolicy = .exchangeDefault,
        alpn: [String] = ["h2", "http/1.1"]
    ) throws {
        pki = try TestPKI()
        serverFiles = try pki.selfSigned(cn: name, dns: [name], key: key)
        certified = try pki.certified(serverFiles)
        store = try CertificateStore(certificates: [certified], defaultCertificate: nil, policy: policy, alpn: alpn, strictSNI: false)
        trustedLeaf = certified.leaf
    }

    func client(policy: TLSPolicy = .exchangeDefault, alpn: [String] = ["http/1.1"], pins: [String] = []) throws -> TLSClientContext {
        try TLSClientContext(trust: BackendTrust(trustedCertificates: [trustedLeaf], pinnedSHA256: pins), policy: policy, alpn: alpn)
    }
}
